//! Fleet-wide dedup on Redis (under construction).
