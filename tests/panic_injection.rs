//! Panic safety, exhaustively: a panic is injected at every call into user code, in
//! every public operation of `Cache`, `SeenSet` and `FingerprintSet`, and every
//! promise is checked afterwards.
//!
//! User code here is the `Hash`, `Eq`, `Clone` and `Drop` of keys, the `Clone` and
//! `Drop` of values, the weigher, the eviction listener, and the loaders of
//! `get_or_insert_with` and its `try` and `async` forms. For each operation, each
//! configuration and each kind of callback, the operation runs on a freshly built
//! and filled structure with the N-th call of that kind set to panic, for N = 1, 2,
//! 3, ... until the operation makes fewer than N such calls and finishes.
//!
//! The reference model is a twin: the same structure, built and filled the same way
//! (a fixed hasher and a manual clock make that deterministic), running without
//! faults. A panic may leave one of three states, each the state a twin reaches:
//! - untouched: the operation did nothing;
//! - gave up: a load gave up after claiming its key (as a load that fails does);
//! - done: the operation's whole effect happened.
//!
//! [`allowed_outcomes`] says which of them each kind of callback may leave: the
//! promises of the crate docs' "Panics in user code". The state compared is `len()`
//! right after the operation, what every key reads, and every delivery to the
//! listener with its cause, so an entry that left without reaching the listener, or
//! reached it twice, is a mismatch. Independently of the twins, every state must
//! have an exact `len()` (equal to the shards' own count, and to the keys that can
//! be read), and no entry may reach the listener twice or reach it and stay readable.
//!
//! Then, with injection off: a fallible load of every key returns, under a deadline
//! (so no key is stuck in flight and nothing waits for ever), with what the key
//! reads; the structure still takes a write; and `clear` delivers exactly the entries
//! that could be read.
//!
//! The twins share the code under test, so this checks what a panic changes, not
//! what the operations do without one (tests/model.rs checks that).
//!
//! Operations that run alongside another thread or task (a caller waiting for the
//! load, or loading while the operation waits) are sequenced with flags, so each
//! call lands on the same side every time, with one exception: the value a load
//! shares with its waiters is dropped by whichever caller lets go of it last, so
//! the number of combinations may vary by one or two from run to run.

use std::borrow::Borrow;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasherDefault, DefaultHasher, Hash, Hasher};
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind, panic_any, resume_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once, PoisonError, mpsc};
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use ttlru::{
    Cache, CacheBuilder, FingerprintSet, FingerprintSetBuilder, ManualClock, RemovalCause, SeenSet,
    SeenSetBuilder, keyed_fingerprint,
};

// ---------------------------------------------------------------------------
// The scenario: which keys exist, and what they are for.
// ---------------------------------------------------------------------------

/// Every key an operation may touch: each is read back after every operation.
const UNIVERSE: Range<u64> = 0..32;
/// Filled with a time to live of 1 s: expired, but still held, when operations run.
const EXPIRED_IDS: Range<u64> = 0..4;
/// Filled with the default time to live.
const LIVE_IDS: Range<u64> = 4..12;
/// With a weigher, these weigh 5 and the others 1, so writing one makes room.
const HEAVY_IDS: Range<u64> = 20..29;
/// With a weigher, heavier than any shard can hold.
const TOO_HEAVY: u64 = 29;

const EXPIRED: u64 = 0;
const LIVE: u64 = 9;
const NEW: u64 = 20;
/// Loaded by another thread or task, alongside the operation.
const OTHER: u64 = 22;
const ABSENT: u64 = 30;
/// Written once the checks are done, to show the structure still takes writes.
const FRESH: u64 = 99;

/// A value's version says who wrote it, so each entry is told apart from the
/// others that had the same key.
const FILLED: u64 = 1;
const WRITTEN: u64 = 2;
const LOADED: u64 = 3;
const WAITER_LOADED: u64 = 4;
const OTHER_LOADED: u64 = 5;
const FRESH_LOADED: u64 = 9;

const TIME_TO_LIVE: Duration = Duration::from_secs(10);
const TIME_TO_IDLE: Duration = Duration::from_secs(5);
const SHORT_TIME_TO_LIVE: Duration = Duration::from_secs(1);
/// Where the clock stands once a structure is filled: past the short time to live.
const FILLED_AT: Duration = Duration::from_secs(2);
const FINGERPRINT_KEY: u128 = 7;

/// How long anything may take before it counts as stuck.
const DEADLINE: Duration = Duration::from_secs(5);
/// More calls than any operation here makes: a sweep reaching it would never end.
const MAX_CALLS: usize = 500;

/// How a structure under test is built.
#[derive(Clone, Copy, Debug)]
struct Config {
    name: &'static str,
    shards: usize,
    capacity: u64,
    /// A weigher (see `HEAVY_IDS`); a `FingerprintSet` has none.
    weigher: bool,
    /// An eviction listener that records every delivery (and may panic).
    listener: bool,
    time_to_idle: bool,
}

const CONFIGS: [Config; 3] = [
    // Full: 12 keys of weight 1 (4 of them expired) and room for 12, so a heavy
    // write expires the 4 and still evicts; one shard, so it is an exact LRU.
    Config {
        name: "one full shard, weigher, listener, time to idle",
        shards: 1,
        capacity: 12,
        weigher: true,
        listener: true,
        time_to_idle: true,
    },
    // Nothing to call but `Hash`, `Eq`, `Clone` and `Drop`: removed entries are
    // dropped instead of delivered.
    Config {
        name: "four roomy shards, no weigher, no listener",
        shards: 4,
        capacity: 400,
        weigher: false,
        listener: false,
        time_to_idle: false,
    },
    // Several shards for `clear` and `purge_expired` to finish despite a panic.
    Config {
        name: "four shards, weigher, listener",
        shards: 4,
        capacity: 24,
        weigher: true,
        listener: true,
        time_to_idle: false,
    },
];

/// Fills a structure the same way every time: keys 0..4 with a time to live of 1 s,
/// 4..12 with the default, then moves the clock to 2 s, so 0..4 have expired but are
/// still held.
fn fill(clock: &ManualClock, mut insert: impl FnMut(u64, Option<Duration>)) {
    for id in EXPIRED_IDS {
        insert(id, Some(SHORT_TIME_TO_LIVE));
    }
    for id in LIVE_IDS {
        insert(id, None);
    }
    clock.advance(FILLED_AT);
}

// ---------------------------------------------------------------------------
// Injection: which call into user code panics.
// ---------------------------------------------------------------------------

/// A kind of user code the structures call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Callback {
    KeyHash,
    KeyEq,
    KeyClone,
    KeyDrop,
    ValueClone,
    ValueDrop,
    Weigher,
    Listener,
    Loader,
}

use Callback::*;

/// The states a fault-free twin reaches, which a panic may leave (see the file's
/// docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Untouched,
    GaveUp,
    Done,
}

/// The states a panic in each kind of user code may leave: what the crate docs'
/// "Panics in user code" promise.
fn allowed_outcomes(callback: Callback) -> &'static [Outcome] {
    use Outcome::*;
    match callback {
        // A key is hashed before anything else happens.
        KeyHash => &[Untouched],
        // Lookups and weighing come before any change; only the completion of a
        // load looks its key up and weighs it after the key was claimed.
        KeyEq | Weigher => &[Untouched, GaveUp],
        // A panicking loader gives up its load.
        Loader => &[GaveUp],
        // A clone answers a read (which changes nothing, so untouched and done are
        // the same state), hands back a value after a write (done), or copies a
        // loaded value before it is stored (the load gives up).
        KeyClone | ValueClone => &[GaveUp, Done],
        // Removed entries are delivered, and dropped, after the write. Those a
        // claim removes (the key's own expired entry) come before its load, which
        // then gives up, and a waiting caller loads instead.
        KeyDrop | ValueDrop | Listener => &[GaveUp, Done],
    }
}

/// The payload of an injected panic, told apart from any other.
#[derive(Debug)]
struct InjectedPanic(Callback);

/// Which call panics: the `countdown`-th call of `target` from now.
struct Plan {
    target: Option<Callback>,
    countdown: usize,
    fired: bool,
}

impl Plan {
    const OFF: Plan = Plan {
        target: None,
        countdown: 0,
        fired: false,
    };

    /// Counts a call of `callback`: whether it is the one to panic. The plan
    /// switches itself off once it has fired.
    fn fires(&mut self, callback: Callback) -> bool {
        if self.target != Some(callback) {
            return false;
        }
        self.countdown -= 1;
        if self.countdown > 0 {
            return false;
        }
        *self = Plan {
            fired: true,
            ..Plan::OFF
        };
        true
    }
}

static PLAN: Mutex<Plan> = Mutex::new(Plan::OFF);
/// Whether calls count on every thread, not only on the operation's: for the
/// sweeper, which calls user code on its own thread.
static EVERY_THREAD_COUNTS: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Whether this thread's calls count: those of the thread or task running the
    /// operation, not those of the threads and tasks that run alongside it.
    static COUNTS: Cell<bool> = const { Cell::new(false) };
    /// Raised by this thread's next `Eq` call: how another thread learns that this
    /// one has reached the lookup of a key it is loading.
    static RAISE_ON_EQ: RefCell<Option<Flag>> = const { RefCell::new(None) };
}

/// Every call into user code starts here: it panics if it is the planned call.
fn user_code(callback: Callback) {
    // A second panic while unwinding would abort the whole test binary.
    if thread::panicking() {
        return;
    }
    if !COUNTS.get() && !EVERY_THREAD_COUNTS.load(Ordering::SeqCst) {
        return;
    }
    if lock(&PLAN).fires(callback) {
        panic_any(InjectedPanic(callback));
    }
}

/// Which threads a planned panic may happen on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    ThisThread,
    EveryThread,
}

/// The `n`-th call of `callback` panics (counting calls on this thread, or on
/// every thread), until this is dropped.
struct PlannedPanic;

impl PlannedPanic {
    fn arm(callback: Callback, n: usize, scope: Scope) -> PlannedPanic {
        *lock(&PLAN) = Plan {
            target: Some(callback),
            countdown: n,
            fired: false,
        };
        EVERY_THREAD_COUNTS.store(scope == Scope::EveryThread, Ordering::SeqCst);
        COUNTS.set(true);
        PlannedPanic
    }

    fn fired(&self) -> bool {
        lock(&PLAN).fired
    }
}

impl Drop for PlannedPanic {
    fn drop(&mut self) {
        COUNTS.set(false);
        EVERY_THREAD_COUNTS.store(false, Ordering::SeqCst);
        *lock(&PLAN) = Plan::OFF;
    }
}

/// Who makes the calls of a stretch of code: whether they count, and whether its
/// `Eq` raises a flag.
#[derive(Clone)]
struct Role {
    counts: bool,
    raise_on_eq: Option<Flag>,
}

impl Role {
    /// The operation under test (its calls count when a panic is planned).
    fn operation(raise_on_eq: Option<Flag>) -> Role {
        Role {
            counts: true,
            raise_on_eq,
        }
    }

    /// A thread or task running alongside the operation, or the test's own set-up.
    fn bystander(raise_on_eq: Option<Flag>) -> Role {
        Role {
            counts: false,
            raise_on_eq,
        }
    }
}

/// Runs `work` in `role`, restoring this thread's role afterwards (however `work` ends).
fn as_role<T>(role: &Role, work: impl FnOnce() -> T) -> T {
    struct Restore(bool, Option<Flag>);
    impl Drop for Restore {
        fn drop(&mut self) {
            COUNTS.set(self.0);
            RAISE_ON_EQ.set(self.1.take());
        }
    }
    let _restore = Restore(
        COUNTS.replace(role.counts),
        RAISE_ON_EQ.replace(role.raise_on_eq.clone()),
    );
    work()
}

/// Set-up inside an operation, whose calls must not count.
fn quietly<T>(work: impl FnOnce() -> T) -> T {
    let raise_on_eq = RAISE_ON_EQ.with_borrow(Clone::clone);
    as_role(&Role::bystander(raise_on_eq), work)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The plan and the roles are global: the tests of this file run one at a time.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    lock(&SERIAL)
}

/// Injected panics are expected by the thousand: only other panics are printed.
fn quiet_injected_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.payload().is::<InjectedPanic>() {
                default_hook(info);
            }
        }));
    });
}

// ---------------------------------------------------------------------------
// Keys and values whose every method is user code that may panic.
// ---------------------------------------------------------------------------

/// A key's identity: what reads and removals are asked with (through `Borrow`),
/// and what a `FingerprintSet` fingerprints. `Copy`, so it has no `Drop`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Id(u64);

impl Hash for Id {
    fn hash<H: Hasher>(&self, state: &mut H) {
        user_code(KeyHash);
        self.0.hash(state);
    }
}

impl PartialEq for Id {
    fn eq(&self, other: &Id) -> bool {
        // Raised first, so a panic here still releases the thread waiting for it.
        RAISE_ON_EQ.with_borrow(|flag| flag.as_ref().map(Flag::raise));
        user_code(KeyEq);
        self.0 == other.0
    }
}

impl Eq for Id {}

/// A stored key: hashed and compared through its `Id`, with its own `Clone` and `Drop`.
#[derive(Debug, Serialize, Deserialize)]
struct Key {
    id: Id,
}

fn key(id: u64) -> Key {
    Key { id: Id(id) }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.id == other.id
    }
}

impl Eq for Key {}

impl Borrow<Id> for Key {
    fn borrow(&self) -> &Id {
        &self.id
    }
}

impl Clone for Key {
    fn clone(&self) -> Key {
        user_code(KeyClone);
        Key { id: self.id }
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        user_code(KeyDrop);
    }
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Value {
    id: u64,
    version: u64,
}

impl Value {
    fn new(id: u64, version: u64) -> Value {
        Value { id, version }
    }
}

impl Clone for Value {
    fn clone(&self) -> Value {
        user_code(ValueClone);
        Value::new(self.id, self.version)
    }
}

impl Drop for Value {
    fn drop(&mut self) {
        user_code(ValueDrop);
    }
}

/// The loader of the operation under test.
fn loaded(id: u64) -> Value {
    user_code(Loader);
    Value::new(id, LOADED)
}

/// What a failing loader returns.
#[derive(Debug, PartialEq)]
struct Refused;

fn weight(id: Id) -> u32 {
    user_code(Weigher);
    match id.0 {
        TOO_HEAVY => 1_000,
        id if HEAVY_IDS.contains(&id) => 5,
        _ => 1,
    }
}

/// A fixed hasher, so a twin routes every key to the same shard.
type FixedHasher = BuildHasherDefault<DefaultHasher>;

/// One delivery to the eviction listener.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Delivery {
    id: u64,
    /// The value's version (a set has no values).
    version: Option<u64>,
    cause: RemovalCause,
}

/// Every delivery so far, in order.
type Log = Arc<Mutex<Vec<Delivery>>>;

fn record(log: &Log, id: u64, version: Option<u64>, cause: RemovalCause) {
    // Recorded before the listener may panic: the delivery did happen.
    lock(log).push(Delivery { id, version, cause });
    user_code(Listener);
}

// ---------------------------------------------------------------------------
// Threads and tasks alongside the operation, and deadlines.
// ---------------------------------------------------------------------------

/// A one-way signal between threads and tasks.
#[derive(Clone, Default)]
struct Flag(Arc<(Mutex<bool>, Condvar)>);

impl Flag {
    fn raise(&self) {
        *lock(&self.0.0) = true;
        self.0.1.notify_all();
    }

    fn is_raised(&self) -> bool {
        *lock(&self.0.0)
    }

    /// Blocks until the flag is raised; fails the test after the deadline.
    fn wait(&self) {
        let raised = lock(&self.0.0);
        let (_raised, waited) = self
            .0
            .1
            .wait_timeout_while(raised, DEADLINE, |raised| !*raised)
            .unwrap_or_else(PoisonError::into_inner);
        assert!(
            !waited.timed_out(),
            "a flag was not raised within {DEADLINE:?}"
        );
    }

    /// Yields until the flag is raised (the other task runs meanwhile).
    async fn raised(&self) {
        until(|| self.is_raised()).await;
    }
}

/// Yields until `condition` holds; fails the test if it never does.
async fn until(condition: impl Fn() -> bool) {
    for _ in 0..100_000 {
        if condition() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("the other task never got there");
}

/// A call on a thread of its own, as a bystander, whose result is fetched under
/// the deadline.
struct OtherThread<T>(mpsc::Receiver<thread::Result<T>>);

impl<T: Send + 'static> OtherThread<T> {
    fn spawn(raise_on_eq: Option<Flag>, work: impl FnOnce() -> T + Send + 'static) -> Self {
        let (done, finished) = mpsc::channel();
        thread::spawn(move || {
            RAISE_ON_EQ.set(raise_on_eq);
            let _ = done.send(catch_unwind(AssertUnwindSafe(work)));
        });
        OtherThread(finished)
    }

    /// Its result (or its panic), or a failed test if it has not returned within
    /// the deadline: it waits for something that never happens.
    fn join(self, what: &str) -> T {
        self.join_within(DEADLINE, what)
    }

    fn join_within(self, deadline: Duration, what: &str) -> T {
        match self.0.recv_timeout(deadline) {
            Ok(Ok(value)) => value,
            Ok(Err(panic)) => resume_unwind(panic),
            Err(_) => panic!("stuck: {what} has not returned within {deadline:?}"),
        }
    }
}

/// Runs `work` on another thread; fails the test if it does not return in time.
/// (Twice the deadline: whatever `work` waits for under the deadline fails first,
/// with a more precise message.)
fn within_deadline<T: Send + 'static>(what: &str, work: impl FnOnce() -> T + Send + 'static) -> T {
    OtherThread::spawn(None, work).join_within(2 * DEADLINE, what)
}

/// A future polled in a role (see [`Role`]), with its panic caught as its output,
/// so that one task's panic in a `join!` lets the other finish.
struct InRole<F> {
    role: Role,
    future: Option<Pin<Box<F>>>,
}

impl<F: Future> InRole<F> {
    fn new(role: Role, future: F) -> Self {
        InRole {
            role,
            future: Some(Box::pin(future)),
        }
    }
}

impl<F: Future> Future for InRole<F> {
    type Output = thread::Result<F::Output>;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let future = this.future.as_mut().expect("polled after it finished");
        let polled = as_role(&this.role, || {
            catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(context)))
        });
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

impl<F> Drop for InRole<F> {
    fn drop(&mut self) {
        // What the future still holds is dropped in its role too.
        let future = self.future.take();
        as_role(&self.role, || drop(future));
    }
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
        .block_on(future)
}

// ---------------------------------------------------------------------------
// The harness: structures, operations, observations, checks.
// ---------------------------------------------------------------------------

/// A structure under test, as the harness drives and observes it.
trait Subject: Sized + Send + Sync + 'static {
    const NAME: &'static str;
    /// The kinds of user code it calls.
    const CALLBACKS: &'static [Callback];

    /// Built with `config` (and a background sweeper if asked), then filled (see `fill`).
    fn build(config: Config, sweeper: bool) -> Self;
    fn len(&self) -> usize;
    /// `stats().len`: the shards' own count, taken under their locks.
    fn counted_len(&self) -> usize;
    /// What `id` reads, without recording an access: `None` when absent, else the
    /// version of its value (`None` for a set).
    fn read(&self, id: u64) -> Option<Option<u64>>;
    /// What `id` reads, through a lookup that would wait for ever if the key were
    /// stuck in flight (a fallible load that fails), or spin if it could not be
    /// claimed; loads nothing.
    fn probe(&self, id: u64) -> Option<Option<u64>>;
    /// Writes `FRESH`; returns what it must then read.
    fn write_fresh(&self) -> Option<u64>;
    fn clear(&self);
    fn purge_expired(&self) -> usize;
    /// Every delivery so far, in order; `None` without a listener.
    fn deliveries(&self) -> Option<Vec<Delivery>>;
}

/// A public operation, and the states a panic in it may legitimately leave.
struct Op<S> {
    name: &'static str,
    run: fn(&S) -> Returned,
    /// What doing nothing leaves: by default nothing; for an operation that runs
    /// alongside another thread, that thread's work, which happens anyway.
    untouched: fn(&S),
    /// What a load that gives up after claiming its key leaves, as fault-free code
    /// reaches it (several, when a waiting caller may load instead).
    gave_up: Vec<fn(&S)>,
    /// The work happens on the background sweeper's thread, which catches its
    /// panics itself: calls count on every thread, and the operation ends once the
    /// sweeper has done its work.
    in_background: bool,
}

impl<S> Op<S> {
    fn new(name: &'static str, run: fn(&S) -> Returned) -> Self {
        Op {
            name,
            run,
            untouched: |_| {},
            gave_up: Vec::new(),
            in_background: false,
        }
    }

    fn gives_up_like(mut self, effect: fn(&S)) -> Self {
        self.gave_up.push(effect);
        self
    }

    fn untouched_like(mut self, effect: fn(&S)) -> Self {
        self.untouched = effect;
        self
    }

    fn in_background(mut self) -> Self {
        self.in_background = true;
        self
    }
}

/// What an operation returned, kept until injection is off: dropping a returned
/// value runs user `Drop`, which is not the operation's call. Compared through its
/// `Debug` output (hence `dead_code`, which does not count that as a read).
#[derive(Debug)]
#[allow(dead_code)]
enum Returned {
    Nothing,
    Bool(bool),
    Count(usize),
    Value(Option<Value>),
    Loaded(Result<Value, Refused>),
    /// What the operation returned, and what the thread or task alongside it got
    /// for the same key (`None` if it did not ask).
    Alongside(Box<Returned>, Option<Result<Value, Refused>>),
}

/// What a state looks like from outside.
#[derive(Debug, PartialEq)]
struct Observed {
    /// `len()` right after the operation.
    len: usize,
    /// What each key of the universe reads (see [`Subject::read`]).
    readable: BTreeMap<u64, Option<u64>>,
    /// Every delivery so far, sorted.
    delivered: Vec<Delivery>,
}

fn cause_rank(cause: RemovalCause) -> u8 {
    match cause {
        RemovalCause::Expired => 0,
        RemovalCause::Evicted => 1,
        RemovalCause::Removed => 2,
        RemovalCause::Replaced => 3,
        RemovalCause::Cleared => 4,
        _ => 5,
    }
}

/// Observes a state (with injection off) and checks what must hold in every state,
/// whatever panicked: `whose` names it in failures.
fn observe<S: Subject>(subject: &S, whose: &dyn fmt::Display) -> Observed {
    let len = subject.len();
    assert_eq!(
        len,
        subject.counted_len(),
        "{whose}: len() is not the shards' own count"
    );
    // Reading a key removes it if it has expired, so after this nothing expired is held.
    let readable: BTreeMap<u64, Option<u64>> = UNIVERSE
        .filter_map(|id| Some((id, subject.read(id)?)))
        .collect();
    assert_eq!(
        (subject.len(), subject.counted_len()),
        (readable.len(), readable.len()),
        "{whose}: len() counts entries that cannot be read"
    );
    let mut delivered = subject.deliveries().unwrap_or_default();
    delivered.sort_by_key(|d| (d.id, d.version, cause_rank(d.cause)));
    // A cache's entries are told apart by their versions.
    for pair in delivered.windows(2) {
        assert!(
            pair[0].version.is_none()
                || (pair[0].id, pair[0].version) != (pair[1].id, pair[1].version),
            "{whose}: an entry reached the listener twice: {pair:?}"
        );
    }
    for d in &delivered {
        assert!(
            d.version.is_none() || readable.get(&d.id) != Some(&d.version),
            "{whose}: {d:?} reached the listener and can still be read"
        );
    }
    Observed {
        len,
        readable,
        delivered,
    }
}

/// One run: which structure, configuration, operation, and which call panics.
struct Case<'a> {
    structure: &'static str,
    config: &'a Config,
    op: &'static str,
    callback: Callback,
    n: usize,
}

impl fmt::Display for Case<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, {} ({}), call {} of {:?} panicking",
            self.structure, self.op, self.config.name, self.n, self.callback
        )
    }
}

/// The states fault-free twins reach: those a panic may leave.
struct Twins {
    untouched: Observed,
    gave_up: Vec<Observed>,
    done: Observed,
    /// What the operation returns without a panic, as `Debug` shows it.
    answer: String,
    /// For a background operation: where the sweeper brings a filled structure
    /// before the operation starts (it purges what filling left expired), and
    /// where the operation's work brings it.
    background: Option<(Progress, Progress)>,
}

impl Twins {
    fn of<S: Subject>(config: Config, op: &Op<S>) -> Twins {
        let whose = format!(
            "{}, {} ({}), a fault-free twin",
            S::NAME,
            op.name,
            config.name
        );
        let after = |effect: &dyn Fn(&S)| {
            let twin = S::build(config, false);
            effect(&twin);
            observe(&twin, &whose)
        };
        let twin = S::build(config, false);
        let answer = format!("{:?}", (op.run)(&twin));
        let done_progress = Progress::of(&twin);
        Twins {
            untouched: after(&op.untouched),
            gave_up: op.gave_up.iter().map(|effect| after(effect)).collect(),
            done: observe(&twin, &whose),
            answer,
            background: op.in_background.then(|| {
                let purged = S::build(config, false);
                purged.purge_expired();
                (Progress::of(&purged), done_progress)
            }),
        }
    }

    fn state(&self, outcome: Outcome) -> Vec<&Observed> {
        match outcome {
            Outcome::Untouched => vec![&self.untouched],
            Outcome::GaveUp => self.gave_up.iter().collect(),
            Outcome::Done => vec![&self.done],
        }
    }
}

/// Where some work leaves a structure: for the background sweeper's, which the
/// harness waits for.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Progress {
    len: usize,
    /// How many deliveries the listener has had (0 without one).
    deliveries: usize,
}

impl Progress {
    fn of<S: Subject>(subject: &S) -> Progress {
        Progress {
            len: subject.len(),
            deliveries: subject.deliveries().map_or(0, |all| all.len()),
        }
    }
}

/// Waits until the sweeper has brought `subject` to `progress`.
fn settle<S: Subject>(subject: &S, progress: Progress, whose: &str) {
    let started = Instant::now();
    while Progress::of(subject) != progress {
        assert!(
            started.elapsed() < DEADLINE,
            "{whose}: the sweeper stopped sweeping: {:?} where {progress:?} was expected",
            Progress::of(subject)
        );
        thread::sleep(SWEEPER_TICK);
    }
    // Without a listener, it drops what it purged after `len()` fell: a few ticks
    // for that, so that those calls count too.
    thread::sleep(SWEEPER_TICK * 10);
}

const SWEEPER_TICK: Duration = Duration::from_millis(1);

/// How a planned run went.
struct Injected {
    fired: bool,
    /// What the operation returned (as `Debug` shows it), or its panic.
    result: thread::Result<String>,
}

/// Runs the case's operation on a thread of its own, with its planned panic.
fn run_planned<S: Subject>(
    case: &Case<'_>,
    subject: &Arc<S>,
    op: &Op<S>,
    settle_at: Option<Progress>,
) -> Injected {
    let (subject, run, callback, n) = (subject.clone(), op.run, case.callback, case.n);
    let whose = case.to_string();
    let scope = if op.in_background {
        Scope::EveryThread
    } else {
        Scope::ThisThread
    };
    within_deadline(&case.to_string(), move || {
        let planned = PlannedPanic::arm(callback, n, scope);
        let result = catch_unwind(AssertUnwindSafe(|| run(&subject)));
        if let Some(progress) = settle_at {
            settle(&*subject, progress, &whose);
        }
        let fired = planned.fired();
        drop(planned);
        // Only now, with injection off: what it returned is dropped here.
        Injected {
            fired,
            result: result.map(|returned| format!("{returned:?}")),
        }
    })
}

fn message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(not a string)".into())
}

/// How `left` differs from `expected`, in a line.
fn differences(left: &Observed, expected: &Observed) -> String {
    let mut found = Vec::new();
    if left.len != expected.len {
        found.push(format!(
            "in len(), {} where {} was expected",
            left.len, expected.len
        ));
    }
    for id in UNIVERSE {
        let (read, expected_read) = (left.readable.get(&id), expected.readable.get(&id));
        if read != expected_read {
            found.push(format!(
                "in key {id}, which reads {read:?} where {expected_read:?} was expected"
            ));
        }
    }
    let missing: Vec<&Delivery> = expected
        .delivered
        .iter()
        .filter(|d| !left.delivered.contains(d))
        .collect();
    let extra: Vec<&Delivery> = left
        .delivered
        .iter()
        .filter(|d| !expected.delivered.contains(d))
        .collect();
    if !missing.is_empty() {
        found.push(format!("in deliveries missing: {missing:?}"));
    }
    if !extra.is_empty() {
        found.push(format!("in deliveries not expected: {extra:?}"));
    }
    if found.is_empty() && left.delivered.len() != expected.delivered.len() {
        found.push(format!(
            "in how many times entries were delivered: {:?} where {:?} was expected",
            left.delivered, expected.delivered
        ));
    }
    found.join("; ")
}

/// Runs one case and checks everything. Returns whether the planned panic happened:
/// if not, the operation makes fewer calls than planned, and the sweep moves on.
fn run_case<S: Subject>(case: &Case<'_>, op: &Op<S>, twins: &Twins) -> bool {
    let subject = Arc::new(S::build(*case.config, op.in_background));
    if let Some((purged, _)) = twins.background {
        settle(&*subject, purged, &case.to_string());
    }
    let settle_at = twins.background.map(|(_, done)| done);
    let injected = run_planned(case, &subject, op, settle_at);
    match &injected.result {
        Err(panic) => match panic.downcast_ref::<InjectedPanic>() {
            Some(InjectedPanic(callback)) => assert_eq!(*callback, case.callback),
            None => panic!(
                "{case}: the operation raised a panic of its own: {}",
                message(&**panic)
            ),
        },
        Ok(_) if injected.fired => assert!(
            op.in_background,
            "{case}: the operation returned although user code panicked: it swallowed the panic"
        ),
        Ok(answer) => assert_eq!(
            answer, &twins.answer,
            "{case}: without a panic, the operation returns what the twin's did"
        ),
    }
    let observed = observe(&*subject, case);
    if injected.fired {
        let allowed = allowed_outcomes(case.callback);
        let matches = |outcome: &Outcome| twins.state(*outcome).contains(&&observed);
        if !allowed.iter().any(matches) {
            let mismatches: Vec<String> = allowed
                .iter()
                .flat_map(|&outcome| {
                    twins
                        .state(outcome)
                        .into_iter()
                        .map(move |state| (outcome, state))
                })
                .map(|(outcome, state)| {
                    format!("from {outcome:?}: {}", differences(&observed, state))
                })
                .collect();
            panic!(
                "{case}: the panic left a state that is none of {allowed:?}, it differs\n  {}",
                mismatches.join("\n  ")
            );
        }
    } else {
        assert!(
            observed == twins.done,
            "{case}: without a panic, the operation does what the twin's did; it differs {}",
            differences(&observed, &twins.done)
        );
    }
    check_still_usable(case, &subject, &observed);
    injected.fired
}

/// With injection off, after the operation: no key is stuck in flight, every key
/// reads as observed, a write still lands, and `clear` delivers exactly the entries
/// that could be read, each once.
fn check_still_usable<S: Subject>(case: &Case<'_>, subject: &Arc<S>, observed: &Observed) {
    let delivered_before = subject.deliveries().map_or(0, |all| all.len());
    let probed = {
        let subject = subject.clone();
        within_deadline(
            &format!("{case}: a fallible load of every key"),
            move || {
                UNIVERSE
                    .filter_map(|id| Some((id, subject.probe(id)?)))
                    .collect::<BTreeMap<_, _>>()
            },
        )
    };
    assert_eq!(
        probed, observed.readable,
        "{case}: a load of each key finds what a read found"
    );
    let fresh = subject.write_fresh();
    assert_eq!(
        subject.read(FRESH),
        Some(fresh),
        "{case}: a write after the panic lands"
    );
    subject.clear();
    assert_eq!(
        (subject.len(), subject.counted_len()),
        (0, 0),
        "{case}: clear empties every shard"
    );
    if let Some(all) = subject.deliveries() {
        let mut cleared: Vec<(u64, Option<u64>)> = all[delivered_before..]
            .iter()
            .map(|d| (d.id, d.version))
            .collect();
        cleared.sort_unstable();
        let mut readable: Vec<(u64, Option<u64>)> = observed
            .readable
            .iter()
            .map(|(&id, &version)| (id, version))
            .chain([(FRESH, fresh)])
            .collect();
        readable.sort_unstable();
        assert_eq!(
            cleared, readable,
            "{case}: what could be read, and nothing else, reaches the listener once as it leaves"
        );
    }
}

/// What a sweep covered.
#[derive(Default)]
struct Tally {
    runs: usize,
    /// (operation, callback, N) combinations whose planned panic happened.
    injected: usize,
    operations: usize,
    /// The causes delivered by the fault-free runs: the paths the operations reach.
    causes: HashSet<RemovalCause>,
}

impl Tally {
    /// Prints the tally, and fails if it fell under `floor` (or some cause of
    /// removal in `causes` was never reached), so the harness cannot shrink unseen.
    fn check(&self, structure: &str, floor: usize, causes: &[RemovalCause]) {
        eprintln!(
            "panic_injection: {structure}: {} (operation, callback, N) combinations with an injected panic, \
             in {} runs of {} operations under {} configurations",
            self.injected,
            self.runs,
            self.operations,
            CONFIGS.len()
        );
        assert!(
            self.injected >= floor,
            "{structure}: only {} combinations with an injected panic (at least {floor} expected)",
            self.injected
        );
        for &cause in causes {
            assert!(
                self.causes.contains(&cause),
                "{structure}: no operation removed an entry as {cause:?}"
            );
        }
    }
}

/// Runs every operation, in every configuration, with each call of each kind of
/// user code panicking in turn, and checks every outcome.
fn sweep<S: Subject>(ops: &[Op<S>]) -> Tally {
    let _serial = one_at_a_time();
    quiet_injected_panics();
    let mut tally = Tally {
        operations: ops.len(),
        ..Tally::default()
    };
    for config in &CONFIGS {
        for op in ops {
            let twins = Twins::of(*config, op);
            tally
                .causes
                .extend(twins.done.delivered.iter().map(|d| d.cause));
            for &callback in S::CALLBACKS {
                let mut n = 1;
                loop {
                    let case = Case {
                        structure: S::NAME,
                        config,
                        op: op.name,
                        callback,
                        n,
                    };
                    assert!(
                        n <= MAX_CALLS,
                        "{case}: over {MAX_CALLS} calls: the sweep would never end"
                    );
                    tally.runs += 1;
                    if !run_case(&case, op, &twins) {
                        break;
                    }
                    tally.injected += 1;
                    n += 1;
                }
            }
        }
    }
    tally
}

// ---------------------------------------------------------------------------
// Cache.
// ---------------------------------------------------------------------------

type TestCache = Cache<Key, Value, FixedHasher>;

struct CacheSubject {
    /// Swapped for the restored cache by `build_from_snapshot`.
    cache: Mutex<Arc<TestCache>>,
    clock: ManualClock,
    log: Log,
    config: Config,
    sweeping: bool,
}

impl CacheSubject {
    fn cache(&self) -> Arc<TestCache> {
        lock(&self.cache).clone()
    }

    fn builder(
        config: Config,
        clock: &ManualClock,
        log: &Log,
    ) -> CacheBuilder<Key, Value, FixedHasher> {
        let mut builder = Cache::builder()
            .hasher(FixedHasher::default())
            .shards(config.shards)
            .max_capacity(config.capacity)
            .time_to_live(TIME_TO_LIVE)
            .clock(clock.clone());
        if config.time_to_idle {
            builder = builder.time_to_idle(TIME_TO_IDLE);
        }
        if config.weigher {
            builder = builder.weigher(|key: &Key, _: &Value| weight(key.id));
        }
        if config.listener {
            let log = log.clone();
            builder = builder.eviction_listener(move |key: &Key, value: Value, cause| {
                record(&log, key.id.0, Some(value.version), cause);
            });
        }
        builder
    }

    /// A load of `id` that fails (the state of a load given up after its claim),
    /// or the version of the value it finds.
    fn refused_load(&self, id: u64) -> Option<u64> {
        let found = self
            .cache()
            .try_get_or_insert_with(key(id), || Err::<Value, _>(Refused));
        found.ok().map(|value| value.version)
    }
}

/// The state of a load of `NEW` given up after its claim.
fn new_key_load_given_up(s: &CacheSubject) {
    s.refused_load(NEW);
}

/// The state of a load of `EXPIRED` given up after its claim (which removed the
/// expired entry).
fn expired_key_load_given_up(s: &CacheSubject) {
    s.refused_load(EXPIRED);
}

/// The state of a load of `NEW` given up, when a waiting caller loads instead.
fn new_key_loaded_by_the_waiter(s: &CacheSubject) {
    s.cache()
        .get_or_insert_with(key(NEW), || Value::new(NEW, WAITER_LOADED));
}

impl Subject for CacheSubject {
    const NAME: &'static str = "Cache";
    const CALLBACKS: &'static [Callback] = &[
        KeyHash, KeyEq, KeyClone, KeyDrop, ValueClone, ValueDrop, Weigher, Listener, Loader,
    ];

    fn build(config: Config, sweeper: bool) -> Self {
        let (clock, log) = (ManualClock::new(), Log::default());
        let mut builder = Self::builder(config, &clock, &log);
        if sweeper {
            builder = builder.background_sweeper(SWEEPER_TICK);
        }
        let cache = builder.build();
        fill(&clock, |id, time_to_live| {
            let value = Value::new(id, FILLED);
            match time_to_live {
                Some(time_to_live) => cache.insert_with_ttl(key(id), value, time_to_live),
                None => cache.insert(key(id), value),
            };
        });
        CacheSubject {
            cache: Mutex::new(Arc::new(cache)),
            clock,
            log,
            config,
            sweeping: sweeper,
        }
    }

    fn len(&self) -> usize {
        self.cache().len()
    }

    fn counted_len(&self) -> usize {
        self.cache().stats().len as usize
    }

    fn read(&self, id: u64) -> Option<Option<u64>> {
        self.cache().peek(&Id(id)).map(|value| Some(value.version))
    }

    fn probe(&self, id: u64) -> Option<Option<u64>> {
        self.refused_load(id).map(Some)
    }

    fn write_fresh(&self) -> Option<u64> {
        self.cache()
            .get_or_insert_with(key(FRESH), || Value::new(FRESH, FRESH_LOADED));
        Some(FRESH_LOADED)
    }

    fn clear(&self) {
        self.cache().clear();
    }

    fn purge_expired(&self) -> usize {
        self.cache().purge_expired()
    }

    fn deliveries(&self) -> Option<Vec<Delivery>> {
        self.config.listener.then(|| lock(&self.log).clone())
    }
}

fn written(id: u64) -> Value {
    Value::new(id, WRITTEN)
}

/// How the operation's own load ends, in the operations with a caller waiting for it.
#[derive(Clone, Copy)]
enum LoadEnds {
    /// `get_or_insert_with` (or its async form) with a value.
    WithAValue,
    /// `try_get_or_insert_with` (or its async form) with an error: the waiter retries.
    WithAnError,
}

/// The loader of the operation under test, when it fails.
fn refusing_loader() -> Result<Value, Refused> {
    user_code(Loader);
    Err(Refused)
}

/// Loads `NEW` with a loader that first lets another thread miss the key and wait
/// for the load; that thread loads its own value if the load gives up.
fn load_with_a_waiting_thread(s: &CacheSubject, how: LoadEnds) -> Returned {
    let cache = s.cache();
    let waiting = Flag::default();
    let mut waiter = None;
    let mut let_a_waiter_in = || {
        let other = cache.clone();
        waiter = Some(OtherThread::spawn(Some(waiting.clone()), move || {
            other.get_or_insert_with(key(NEW), || Value::new(NEW, WAITER_LOADED))
        }));
        waiting.wait();
    };
    let got = catch_unwind(AssertUnwindSafe(|| match how {
        LoadEnds::WithAValue => Returned::Value(Some(cache.get_or_insert_with(key(NEW), || {
            let_a_waiter_in();
            loaded(NEW)
        }))),
        LoadEnds::WithAnError => Returned::Loaded(cache.try_get_or_insert_with(key(NEW), || {
            let_a_waiter_in();
            refusing_loader()
        })),
    }));
    // Joined whatever happened: a waiter that never returns waits for ever.
    let waiter_got = waiter.map(|waiter| Ok(waiter.join("the waiting thread")));
    match got {
        Ok(got) => Returned::Alongside(Box::new(got), waiter_got),
        Err(panic) => resume_unwind(panic),
    }
}

/// The async form of [`load_with_a_waiting_thread`], with another task waiting.
fn load_with_a_waiting_task(s: &CacheSubject, how: LoadEnds) -> Returned {
    let cache = s.cache();
    let (loading, waiting, ended) = (Flag::default(), Flag::default(), Flag::default());
    let let_a_waiter_in = async {
        loading.raise();
        waiting.raised().await;
    };
    let operation = async {
        let operation = async {
            match how {
                LoadEnds::WithAValue => {
                    let load = async {
                        let_a_waiter_in.await;
                        loaded(NEW)
                    };
                    Returned::Value(Some(cache.get_or_insert_with_async(key(NEW), load).await))
                }
                LoadEnds::WithAnError => {
                    let load = async {
                        let_a_waiter_in.await;
                        refusing_loader()
                    };
                    Returned::Loaded(cache.try_get_or_insert_with_async(key(NEW), load).await)
                }
            }
        };
        let got = InRole::new(Role::operation(None), operation).await;
        ended.raise();
        got
    };
    let waiter = InRole::new(Role::bystander(Some(waiting.clone())), async {
        // Like the waiting thread, it misses the key only if the load started.
        until(|| loading.is_raised() || ended.is_raised()).await;
        if !loading.is_raised() {
            return None;
        }
        let load = async { Value::new(NEW, WAITER_LOADED) };
        Some(Ok(cache.get_or_insert_with_async(key(NEW), load).await))
    });
    let (got, waiter_got) = block_on(async { tokio::join!(operation, waiter) });
    let waiter_got = waiter_got.unwrap_or_else(|panic| resume_unwind(panic));
    match got {
        Ok(got) => Returned::Alongside(Box::new(got), waiter_got),
        Err(panic) => resume_unwind(panic),
    }
}

/// How a bystander's load of `OTHER`, alongside the operation, ends.
fn other_load(how: LoadEnds) -> Result<Value, Refused> {
    match how {
        LoadEnds::WithAValue => Ok(Value::new(OTHER, OTHER_LOADED)),
        LoadEnds::WithAnError => Err(Refused),
    }
}

/// A plain insert of `id` with a time to live that the clock then passes.
fn insert_that_expires(s: &CacheSubject, id: u64) {
    let time_to_live = Duration::from_millis(1);
    s.cache()
        .insert_with_ttl(key(id), written(id), time_to_live);
    s.clock.advance(time_to_live);
}

/// Runs `operation` while another thread loads `OTHER`, with a load that ends as
/// told once the operation has looked the key up (or ended). Meanwhile a plain
/// insert of the key lands and expires: the operation finds an expired entry and
/// a load in flight. (If that load fails, the operation claims the key again.)
fn alongside_a_loading_thread(
    s: &CacheSubject,
    how: LoadEnds,
    operation: fn(&TestCache) -> Returned,
) -> Returned {
    let cache = s.cache();
    let (loading, looked_up) = (Flag::default(), Flag::default());
    let loader = quietly(|| {
        let (other, started, released) = (cache.clone(), loading.clone(), looked_up.clone());
        let loader = OtherThread::spawn(None, move || {
            other.try_get_or_insert_with(key(OTHER), || {
                started.raise();
                released.wait();
                other_load(how)
            })
        });
        loading.wait();
        insert_that_expires(s, OTHER);
        loader
    });
    let got = as_role(&Role::operation(Some(looked_up.clone())), || {
        catch_unwind(AssertUnwindSafe(|| operation(&cache)))
    });
    looked_up.raise();
    let loader_got = loader.join("the loading thread");
    match got {
        Ok(got) => Returned::Alongside(Box::new(got), Some(loader_got)),
        Err(panic) => resume_unwind(panic),
    }
}

/// `get_or_insert_with` of `OTHER`, alongside another thread's load of it.
fn wait_for_a_loading_thread(s: &CacheSubject, how: LoadEnds) -> Returned {
    alongside_a_loading_thread(s, how, |cache| {
        Returned::Value(Some(cache.get_or_insert_with(key(OTHER), || loaded(OTHER))))
    })
}

/// The async form of [`wait_for_a_loading_thread`], alongside another task.
fn wait_for_a_loading_task(s: &CacheSubject, how: LoadEnds) -> Returned {
    let cache = s.cache();
    let (loading, looked_up) = (Flag::default(), Flag::default());
    let loader = InRole::new(Role::bystander(None), async {
        let load = async {
            loading.raise();
            looked_up.raised().await;
            other_load(how)
        };
        cache.try_get_or_insert_with_async(key(OTHER), load).await
    });
    let operation = async {
        loading.raised().await;
        quietly(|| insert_that_expires(s, OTHER));
        let load = async { loaded(OTHER) };
        let role = Role::operation(Some(looked_up.clone()));
        let got = InRole::new(role, cache.get_or_insert_with_async(key(OTHER), load)).await;
        looked_up.raise();
        got
    };
    let (got, loader_got) = block_on(async { tokio::join!(operation, loader) });
    let loader_got = loader_got.unwrap_or_else(|panic| resume_unwind(panic));
    match got {
        Ok(got) => Returned::Alongside(Box::new(Returned::Value(Some(got))), Some(loader_got)),
        Err(panic) => resume_unwind(panic),
    }
}

/// What the operations alongside another caller's load of `OTHER` leave when
/// they do nothing: that load's work.
fn only_the_other_load(s: &CacheSubject, how: LoadEnds) {
    alongside_a_loading_thread(s, how, |_| Returned::Nothing);
}

/// What they leave when their own load (after the other one failed) gives up.
fn the_other_load_then_a_refused_one(s: &CacheSubject) {
    alongside_a_loading_thread(s, LoadEnds::WithAnError, |cache| {
        Returned::Loaded(cache.try_get_or_insert_with(key(OTHER), || Err(Refused)))
    });
}

type CacheOp = Op<CacheSubject>;

fn cache_operations() -> Vec<CacheOp> {
    #[allow(unused_mut)]
    let mut ops = vec![
        CacheOp::new("insert, a new key that makes room", |s| {
            Returned::Value(s.cache().insert(key(NEW), written(NEW)))
        }),
        CacheOp::new("insert, a key too heavy to keep", |s| {
            Returned::Value(s.cache().insert(key(TOO_HEAVY), written(TOO_HEAVY)))
        }),
        CacheOp::new("insert, over a live key", |s| {
            Returned::Value(s.cache().insert(key(LIVE), written(LIVE)))
        }),
        CacheOp::new("insert, over an expired key", |s| {
            Returned::Value(s.cache().insert(key(EXPIRED), written(EXPIRED)))
        }),
        CacheOp::new("insert_with_ttl, a new key", |s| {
            let ttl = Duration::from_secs(3);
            Returned::Value(s.cache().insert_with_ttl(key(NEW), written(NEW), ttl))
        }),
        CacheOp::new("insert_with_ttl of zero, over a live key", |s| {
            let ttl = Duration::ZERO;
            Returned::Value(s.cache().insert_with_ttl(key(LIVE), written(LIVE), ttl))
        }),
        CacheOp::new("get, a live key", |s| {
            Returned::Value(s.cache().get(&Id(LIVE)))
        }),
        CacheOp::new("get, an expired key", |s| {
            Returned::Value(s.cache().get(&Id(EXPIRED)))
        }),
        CacheOp::new("get, an absent key", |s| {
            Returned::Value(s.cache().get(&Id(ABSENT)))
        }),
        CacheOp::new("peek, a live key", |s| {
            Returned::Value(s.cache().peek(&Id(LIVE)))
        }),
        CacheOp::new("peek, an expired key", |s| {
            Returned::Value(s.cache().peek(&Id(EXPIRED)))
        }),
        CacheOp::new("contains_key, a live key", |s| {
            Returned::Bool(s.cache().contains_key(&Id(LIVE)))
        }),
        CacheOp::new("contains_key, an expired key", |s| {
            Returned::Bool(s.cache().contains_key(&Id(EXPIRED)))
        }),
        CacheOp::new("remove, a live key", |s| {
            Returned::Value(s.cache().remove(&Id(LIVE)))
        }),
        CacheOp::new("remove, an expired key", |s| {
            Returned::Value(s.cache().remove(&Id(EXPIRED)))
        }),
        CacheOp::new("remove, an absent key", |s| {
            Returned::Value(s.cache().remove(&Id(ABSENT)))
        }),
        CacheOp::new("get_or_insert_with, a hit", |s| {
            Returned::Value(Some(
                s.cache().get_or_insert_with(key(LIVE), || loaded(LIVE)),
            ))
        }),
        CacheOp::new("get_or_insert_with, a miss that makes room", |s| {
            Returned::Value(Some(s.cache().get_or_insert_with(key(NEW), || loaded(NEW))))
        })
        .gives_up_like(new_key_load_given_up),
        CacheOp::new("get_or_insert_with, over an expired key", |s| {
            Returned::Value(Some(
                s.cache()
                    .get_or_insert_with(key(EXPIRED), || loaded(EXPIRED)),
            ))
        })
        .gives_up_like(expired_key_load_given_up),
        CacheOp::new("try_get_or_insert_with, a load that succeeds", |s| {
            Returned::Loaded(
                s.cache()
                    .try_get_or_insert_with(key(NEW), || Ok(loaded(NEW))),
            )
        })
        .gives_up_like(new_key_load_given_up),
        CacheOp::new("try_get_or_insert_with, a load that fails", |s| {
            Returned::Loaded(s.cache().try_get_or_insert_with(key(NEW), refusing_loader))
        })
        .gives_up_like(new_key_load_given_up),
        // The load completes after a plain insert of its key: that value wins.
        CacheOp::new(
            "get_or_insert_with, while a plain insert of the key lands",
            |s| {
                let cache = s.cache();
                let got = cache.get_or_insert_with(key(NEW), || {
                    quietly(|| cache.insert(key(NEW), written(NEW)));
                    loaded(NEW)
                });
                Returned::Value(Some(got))
            },
        )
        .gives_up_like(|s| {
            s.cache().insert(key(NEW), written(NEW));
        }),
        // ... and, here, expires before the load completes: the loaded value is stored.
        CacheOp::new(
            "get_or_insert_with, while a plain insert of the key lands and expires",
            |s| {
                let got = s.cache().get_or_insert_with(key(NEW), || {
                    quietly(|| insert_that_expires(s, NEW));
                    loaded(NEW)
                });
                Returned::Value(Some(got))
            },
        )
        .gives_up_like(|s| insert_that_expires(s, NEW)),
        CacheOp::new(
            "get_or_insert_with, with another thread waiting for the load",
            |s| load_with_a_waiting_thread(s, LoadEnds::WithAValue),
        )
        .gives_up_like(new_key_load_given_up)
        .gives_up_like(new_key_loaded_by_the_waiter),
        CacheOp::new(
            "try_get_or_insert_with, a load that fails, with another thread waiting",
            |s| load_with_a_waiting_thread(s, LoadEnds::WithAnError),
        )
        .gives_up_like(new_key_load_given_up)
        .gives_up_like(new_key_loaded_by_the_waiter),
        CacheOp::new(
            "get_or_insert_with, waiting for another thread's load",
            |s| wait_for_a_loading_thread(s, LoadEnds::WithAValue),
        )
        .untouched_like(|s| only_the_other_load(s, LoadEnds::WithAValue)),
        CacheOp::new(
            "get_or_insert_with, after another thread's load failed",
            |s| wait_for_a_loading_thread(s, LoadEnds::WithAnError),
        )
        .untouched_like(|s| only_the_other_load(s, LoadEnds::WithAnError))
        .gives_up_like(the_other_load_then_a_refused_one),
        CacheOp::new("get_or_insert_with_async, a hit", |s| {
            let cache = s.cache();
            let got = block_on(cache.get_or_insert_with_async(key(LIVE), async { loaded(LIVE) }));
            Returned::Value(Some(got))
        }),
        CacheOp::new("get_or_insert_with_async, a miss that makes room", |s| {
            let cache = s.cache();
            let got = block_on(cache.get_or_insert_with_async(key(NEW), async { loaded(NEW) }));
            Returned::Value(Some(got))
        })
        .gives_up_like(new_key_load_given_up),
        CacheOp::new("get_or_insert_with_async, over an expired key", |s| {
            let cache = s.cache();
            let load = async { loaded(EXPIRED) };
            Returned::Value(Some(block_on(
                cache.get_or_insert_with_async(key(EXPIRED), load),
            )))
        })
        .gives_up_like(expired_key_load_given_up),
        CacheOp::new("try_get_or_insert_with_async, a load that succeeds", |s| {
            let cache = s.cache();
            let load = async { Ok(loaded(NEW)) };
            Returned::Loaded(block_on(cache.try_get_or_insert_with_async(key(NEW), load)))
        })
        .gives_up_like(new_key_load_given_up),
        CacheOp::new("try_get_or_insert_with_async, a load that fails", |s| {
            let cache = s.cache();
            let load = async { refusing_loader() };
            Returned::Loaded(block_on(cache.try_get_or_insert_with_async(key(NEW), load)))
        })
        .gives_up_like(new_key_load_given_up),
        CacheOp::new(
            "get_or_insert_with_async, with another task waiting for the load",
            |s| load_with_a_waiting_task(s, LoadEnds::WithAValue),
        )
        .gives_up_like(new_key_load_given_up)
        .gives_up_like(new_key_loaded_by_the_waiter),
        CacheOp::new(
            "try_get_or_insert_with_async, a load that fails, with another task waiting",
            |s| load_with_a_waiting_task(s, LoadEnds::WithAnError),
        )
        .gives_up_like(new_key_load_given_up)
        .gives_up_like(new_key_loaded_by_the_waiter),
        CacheOp::new(
            "get_or_insert_with_async, waiting for another task's load",
            |s| wait_for_a_loading_task(s, LoadEnds::WithAValue),
        )
        .untouched_like(|s| only_the_other_load(s, LoadEnds::WithAValue)),
        CacheOp::new(
            "get_or_insert_with_async, after another task's load failed",
            |s| wait_for_a_loading_task(s, LoadEnds::WithAnError),
        )
        .untouched_like(|s| only_the_other_load(s, LoadEnds::WithAnError))
        .gives_up_like(the_other_load_then_a_refused_one),
        CacheOp::new("clear", |s| {
            s.cache().clear();
            Returned::Nothing
        }),
        CacheOp::new("purge_expired", |s| {
            Returned::Count(s.cache().purge_expired())
        }),
        CacheOp::new("shrink_to_fit", |s| {
            s.cache().shrink_to_fit();
            Returned::Nothing
        }),
        // Everything expires, and the sweeper purges it on its own thread. (A twin
        // has no sweeper: it purges by hand.)
        CacheOp::new("the background sweeper, purging", |s| {
            s.clock.advance(TIME_TO_LIVE);
            if !s.sweeping {
                s.cache().purge_expired();
            }
            Returned::Nothing
        })
        .in_background(),
    ];
    #[cfg(feature = "serde")]
    ops.extend([
        CacheOp::new("save_snapshot", |s| {
            let saved = s.cache().save_snapshot(Vec::new()).expect("a snapshot");
            Returned::Count(saved.entries as usize)
        }),
        CacheOp::new("build_from_snapshot", |s| {
            let mut snapshot = Vec::new();
            quietly(|| s.cache().save_snapshot(&mut snapshot).expect("a snapshot"));
            let restored = CacheSubject::builder(s.config, &s.clock, &s.log)
                .build_from_snapshot(&snapshot[..])
                .expect("restored");
            // The cache it replaces is dropped with everything in it: not the operation's calls.
            quietly(|| *lock(&s.cache) = Arc::new(restored));
            Returned::Nothing
        }),
    ]);
    ops
}

#[test]
fn cache_keeps_its_promises_whichever_call_into_user_code_panics() {
    let tally = sweep(&cache_operations());
    tally.check(
        "Cache",
        if cfg!(feature = "serde") { 1_120 } else { 950 },
        &[
            RemovalCause::Expired,
            RemovalCause::Evicted,
            RemovalCause::Removed,
            RemovalCause::Replaced,
            RemovalCause::Cleared,
        ],
    );
}

// ---------------------------------------------------------------------------
// SeenSet.
// ---------------------------------------------------------------------------

type TestSeenSet = SeenSet<Key, FixedHasher>;

struct SeenSetSubject {
    set: Mutex<Arc<TestSeenSet>>,
    log: Log,
    /// For the restored set of `build_from_snapshot` (feature `serde`).
    #[cfg_attr(not(feature = "serde"), allow(dead_code))]
    clock: ManualClock,
    config: Config,
}

impl SeenSetSubject {
    fn set(&self) -> Arc<TestSeenSet> {
        lock(&self.set).clone()
    }

    fn builder(config: Config, clock: &ManualClock, log: &Log) -> SeenSetBuilder<Key, FixedHasher> {
        let mut builder = SeenSet::builder()
            .hasher(FixedHasher::default())
            .shards(config.shards)
            .max_capacity(config.capacity)
            .time_to_live(TIME_TO_LIVE)
            .clock(clock.clone());
        if config.time_to_idle {
            builder = builder.time_to_idle(TIME_TO_IDLE);
        }
        if config.weigher {
            builder = builder.weigher(|key: &Key| weight(key.id));
        }
        if config.listener {
            let log = log.clone();
            builder = builder
                .eviction_listener(move |key: &Key, cause| record(&log, key.id.0, None, cause));
        }
        builder
    }
}

impl Subject for SeenSetSubject {
    const NAME: &'static str = "SeenSet";
    const CALLBACKS: &'static [Callback] = &[KeyHash, KeyEq, KeyClone, KeyDrop, Weigher, Listener];

    fn build(config: Config, _sweeper: bool) -> Self {
        let (clock, log) = (ManualClock::new(), Log::default());
        let set = Self::builder(config, &clock, &log).build();
        fill(&clock, |id, time_to_live| {
            match time_to_live {
                Some(time_to_live) => set.insert_with_ttl(key(id), time_to_live),
                None => set.insert(key(id)),
            };
        });
        SeenSetSubject {
            set: Mutex::new(Arc::new(set)),
            log,
            clock,
            config,
        }
    }

    fn len(&self) -> usize {
        self.set().len()
    }

    fn counted_len(&self) -> usize {
        self.set().stats().len as usize
    }

    fn read(&self, id: u64) -> Option<Option<u64>> {
        self.set().contains(&Id(id)).then_some(None)
    }

    /// A set has no loads to be stuck in: a lookup must still return.
    fn probe(&self, id: u64) -> Option<Option<u64>> {
        self.read(id)
    }

    fn write_fresh(&self) -> Option<u64> {
        assert!(self.set().insert(key(FRESH)), "a first sighting");
        None
    }

    fn clear(&self) {
        self.set().clear();
    }

    fn purge_expired(&self) -> usize {
        self.set().purge_expired()
    }

    fn deliveries(&self) -> Option<Vec<Delivery>> {
        self.config.listener.then(|| lock(&self.log).clone())
    }
}

type SeenSetOp = Op<SeenSetSubject>;

fn seen_set_operations() -> Vec<SeenSetOp> {
    #[allow(unused_mut)]
    let mut ops = vec![
        SeenSetOp::new("insert, a new key that makes room", |s| {
            Returned::Bool(s.set().insert(key(NEW)))
        }),
        SeenSetOp::new("insert, a key too heavy to keep", |s| {
            Returned::Bool(s.set().insert(key(TOO_HEAVY)))
        }),
        SeenSetOp::new("insert, a live key (a sighting)", |s| {
            Returned::Bool(s.set().insert(key(LIVE)))
        }),
        SeenSetOp::new("insert, an expired key", |s| {
            Returned::Bool(s.set().insert(key(EXPIRED)))
        }),
        SeenSetOp::new("insert_with_ttl, a new key", |s| {
            Returned::Bool(s.set().insert_with_ttl(key(NEW), Duration::from_secs(3)))
        }),
        SeenSetOp::new("insert_with_ttl of zero, a new key", |s| {
            Returned::Bool(s.set().insert_with_ttl(key(NEW), Duration::ZERO))
        }),
        SeenSetOp::new("contains, a live key", |s| {
            Returned::Bool(s.set().contains(&Id(LIVE)))
        }),
        SeenSetOp::new("contains, an expired key", |s| {
            Returned::Bool(s.set().contains(&Id(EXPIRED)))
        }),
        SeenSetOp::new("remove, a live key", |s| {
            Returned::Bool(s.set().remove(&Id(LIVE)))
        }),
        SeenSetOp::new("remove, an expired key", |s| {
            Returned::Bool(s.set().remove(&Id(EXPIRED)))
        }),
        SeenSetOp::new("clear", |s| {
            s.set().clear();
            Returned::Nothing
        }),
        SeenSetOp::new("purge_expired", |s| {
            Returned::Count(s.set().purge_expired())
        }),
        SeenSetOp::new("shrink_to_fit", |s| {
            s.set().shrink_to_fit();
            Returned::Nothing
        }),
    ];
    #[cfg(feature = "serde")]
    ops.extend([
        SeenSetOp::new("save_snapshot", |s| {
            let saved = s.set().save_snapshot(Vec::new()).expect("a snapshot");
            Returned::Count(saved.entries as usize)
        }),
        SeenSetOp::new("build_from_snapshot", |s| {
            let mut snapshot = Vec::new();
            quietly(|| s.set().save_snapshot(&mut snapshot).expect("a snapshot"));
            let restored = SeenSetSubject::builder(s.config, &s.clock, &s.log)
                .build_from_snapshot(&snapshot[..])
                .expect("restored");
            quietly(|| *lock(&s.set) = Arc::new(restored));
            Returned::Nothing
        }),
    ]);
    ops
}

#[test]
fn seen_set_keeps_its_promises_whichever_call_into_user_code_panics() {
    let tally = sweep(&seen_set_operations());
    tally.check(
        "SeenSet",
        if cfg!(feature = "serde") { 360 } else { 255 },
        &[
            RemovalCause::Expired,
            RemovalCause::Evicted,
            RemovalCause::Removed,
            RemovalCause::Cleared,
        ],
    );
}

// ---------------------------------------------------------------------------
// FingerprintSet: it stores no keys, so of user code it calls only `Hash` (to
// fingerprint a key) and the listener.
// ---------------------------------------------------------------------------

struct FingerprintSetSubject {
    set: Mutex<Arc<FingerprintSet<Id>>>,
    log: Log,
    clock: ManualClock,
    config: Config,
}

impl FingerprintSetSubject {
    fn set(&self) -> Arc<FingerprintSet<Id>> {
        lock(&self.set).clone()
    }

    fn builder(config: Config, clock: &ManualClock, log: &Log) -> FingerprintSetBuilder<Id> {
        let mut builder = FingerprintSet::builder()
            .fingerprint_key(FINGERPRINT_KEY)
            .shards(config.shards)
            .max_capacity(config.capacity)
            .time_to_live(TIME_TO_LIVE)
            .clock(clock.clone());
        if config.time_to_idle {
            builder = builder.time_to_idle(TIME_TO_IDLE);
        }
        if config.listener {
            // The listener is told fingerprints: it finds their keys in a table
            // made beforehand (hashing there is not the operation's call).
            let ids: HashMap<u128, u64> = quietly(|| {
                UNIVERSE
                    .chain([FRESH])
                    .map(|id| (keyed_fingerprint(FINGERPRINT_KEY, &Id(id)), id))
                    .collect()
            });
            let log = log.clone();
            builder = builder.eviction_listener(move |fingerprint, cause| {
                record(&log, ids[&fingerprint], None, cause);
            });
        }
        builder
    }

    fn fingerprint(&self, id: u64) -> u128 {
        quietly(|| self.set().fingerprint(&Id(id)))
    }
}

impl Subject for FingerprintSetSubject {
    const NAME: &'static str = "FingerprintSet";
    const CALLBACKS: &'static [Callback] = &[KeyHash, Listener];

    fn build(config: Config, _sweeper: bool) -> Self {
        let (clock, log) = (ManualClock::new(), Log::default());
        let set = Self::builder(config, &clock, &log).build();
        fill(&clock, |id, time_to_live| {
            match time_to_live {
                Some(time_to_live) => set.insert_with_ttl(&Id(id), time_to_live),
                None => set.insert(&Id(id)),
            };
        });
        FingerprintSetSubject {
            set: Mutex::new(Arc::new(set)),
            log,
            clock,
            config,
        }
    }

    fn len(&self) -> usize {
        self.set().len()
    }

    fn counted_len(&self) -> usize {
        self.set().stats().len as usize
    }

    fn read(&self, id: u64) -> Option<Option<u64>> {
        self.set().contains(&Id(id)).then_some(None)
    }

    fn probe(&self, id: u64) -> Option<Option<u64>> {
        self.read(id)
    }

    fn write_fresh(&self) -> Option<u64> {
        assert!(self.set().insert(&Id(FRESH)), "a first sighting");
        None
    }

    fn clear(&self) {
        self.set().clear();
    }

    fn purge_expired(&self) -> usize {
        self.set().purge_expired()
    }

    fn deliveries(&self) -> Option<Vec<Delivery>> {
        self.config.listener.then(|| lock(&self.log).clone())
    }
}

type FingerprintSetOp = Op<FingerprintSetSubject>;

fn fingerprint_set_operations() -> Vec<FingerprintSetOp> {
    vec![
        FingerprintSetOp::new("insert, a new key", |s| {
            Returned::Bool(s.set().insert(&Id(NEW)))
        }),
        FingerprintSetOp::new("insert, a live key (a sighting)", |s| {
            Returned::Bool(s.set().insert(&Id(LIVE)))
        }),
        FingerprintSetOp::new("insert, an expired key", |s| {
            Returned::Bool(s.set().insert(&Id(EXPIRED)))
        }),
        FingerprintSetOp::new("insert_with_ttl, a new key", |s| {
            Returned::Bool(s.set().insert_with_ttl(&Id(NEW), Duration::from_secs(3)))
        }),
        FingerprintSetOp::new("contains, a live key", |s| {
            Returned::Bool(s.set().contains(&Id(LIVE)))
        }),
        FingerprintSetOp::new("contains, an expired key", |s| {
            Returned::Bool(s.set().contains(&Id(EXPIRED)))
        }),
        FingerprintSetOp::new("remove, a live key", |s| {
            Returned::Bool(s.set().remove(&Id(LIVE)))
        }),
        FingerprintSetOp::new("remove, an expired key", |s| {
            Returned::Bool(s.set().remove(&Id(EXPIRED)))
        }),
        FingerprintSetOp::new("insert_fingerprint, an expired key's", |s| {
            let fingerprint = s.fingerprint(EXPIRED);
            Returned::Bool(s.set().insert_fingerprint(fingerprint))
        }),
        FingerprintSetOp::new("insert_fingerprint_with_ttl, a new key's", |s| {
            let fingerprint = s.fingerprint(NEW);
            let ttl = Duration::from_secs(3);
            Returned::Bool(s.set().insert_fingerprint_with_ttl(fingerprint, ttl))
        }),
        FingerprintSetOp::new("contains_fingerprint, an expired key's", |s| {
            let fingerprint = s.fingerprint(EXPIRED);
            Returned::Bool(s.set().contains_fingerprint(fingerprint))
        }),
        FingerprintSetOp::new("remove_fingerprint, a live key's", |s| {
            let fingerprint = s.fingerprint(LIVE);
            Returned::Bool(s.set().remove_fingerprint(fingerprint))
        }),
        FingerprintSetOp::new("clear", |s| {
            s.set().clear();
            Returned::Nothing
        }),
        FingerprintSetOp::new("purge_expired", |s| {
            Returned::Count(s.set().purge_expired())
        }),
        FingerprintSetOp::new("shrink_to_fit", |s| {
            s.set().shrink_to_fit();
            Returned::Nothing
        }),
        FingerprintSetOp::new("save_snapshot", |s| {
            let saved = s.set().save_snapshot(Vec::new()).expect("a snapshot");
            Returned::Count(saved.entries as usize)
        }),
        FingerprintSetOp::new("build_from_snapshot", |s| {
            let mut snapshot = Vec::new();
            s.set().save_snapshot(&mut snapshot).expect("a snapshot");
            let restored = FingerprintSetSubject::builder(s.config, &s.clock, &s.log)
                .build_from_snapshot(&snapshot[..])
                .expect("restored");
            *lock(&s.set) = Arc::new(restored);
            Returned::Nothing
        }),
    ]
}

#[test]
fn fingerprint_set_keeps_its_promises_whichever_call_into_user_code_panics() {
    let tally = sweep(&fingerprint_set_operations());
    tally.check(
        "FingerprintSet",
        110,
        // Not `Evicted`: without a weigher, the expired entries a write removes
        // always make room for it. (Evictions take the same path as in a `SeenSet`.)
        &[
            RemovalCause::Expired,
            RemovalCause::Removed,
            RemovalCause::Cleared,
        ],
    );
}
