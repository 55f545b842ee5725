//! `Authorization: Basic` values from URL userinfo or netrc logins.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// From `user:password` userinfo as it appears in a URL (percent-encoded).
pub fn from_userinfo(userinfo: &str) -> String {
    let raw: Vec<u8> = percent_encoding::percent_decode_str(userinfo).collect();
    STANDARD.encode(raw)
}

pub fn from_login(user: &str, password: &str) -> String {
    STANDARD.encode(format!("{user}:{password}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes() {
        assert_eq!(from_login("user", "pass"), "dXNlcjpwYXNz");
        assert_eq!(from_login("a", ""), "YTo=");
        assert_eq!(from_userinfo("us%40r:p%3Ass"), from_login("us@r", "p:ss"));
        // Not an escape: kept as written, as before.
        assert_eq!(from_userinfo("a%zz:%4"), from_login("a%zz", "%4"));
    }
}
