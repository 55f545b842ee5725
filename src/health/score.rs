//! The health score, in the spirit of the seed article's weighted score:
//! availability 40%, latency 35%, recent failures 25%.

/// Latency up to this scores full marks.
const FAST_MS: f64 = 300.0;
/// Latency this much above FAST_MS scores zero.
const SLOW_SPAN_MS: f64 = 2000.0;
/// A failure stops counting against a proxy after this long.
const FAILURE_MEMORY_SECS: f64 = 1800.0;
/// Scores at least this, with a successful last check, mean "up"; below, "degraded".
pub const UP_THRESHOLD: f64 = 0.7;

/// `history`: outcomes of recent checks, newest last (true = success).
pub fn score(history: &[bool], latency_ms: Option<f64>, secs_since_failure: Option<f64>) -> f64 {
    let availability = if history.is_empty() {
        0.0
    } else {
        history.iter().filter(|ok| **ok).count() as f64 / history.len() as f64
    };
    let latency = match latency_ms {
        Some(ms) if ms <= FAST_MS => 1.0,
        Some(ms) => (1.0 - (ms - FAST_MS) / SLOW_SPAN_MS).max(0.0),
        None => 0.0,
    };
    let recency = match secs_since_failure {
        None => 1.0,
        Some(s) => (s / FAILURE_MEMORY_SECS).clamp(0.0, 1.0),
    };
    let total = 0.40 * availability + 0.35 * latency + 0.25 * recency;
    (total * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_reliable_proxy_scores_one() {
        assert_eq!(score(&[true; 5], Some(50.0), None), 1.0);
    }

    #[test]
    fn slowness_and_failures_lower_the_score() {
        let fast = score(&[true; 5], Some(100.0), None);
        let slow = score(&[true; 5], Some(1300.0), None);
        let flaky = score(&[true, false, true, true, true], Some(100.0), Some(60.0));
        assert!(fast > slow && slow > 0.5, "{fast} {slow}");
        assert!(fast > flaky, "{flaky}");
        assert_eq!(score(&[false], None, Some(0.0)), 0.0);
    }
}
