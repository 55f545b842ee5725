//! What a certificate says, for the doctor's TLS verdict: subject, issuer,
//! names, expiry. Parsing only; verification is rustls's job (see probe::http).

use serde::Serialize;
use x509_parser::extensions::GeneralName;
use x509_parser::x509::X509Name;

/// The facts about a leaf certificate that a user needs to act.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CertInfo {
    /// Common name (else the whole distinguished name) of the subject.
    pub subject: String,
    /// Common name and organization of the issuer.
    pub issuer: String,
    /// DNS names and IP addresses the certificate is valid for.
    pub names: Vec<String>,
    /// `notAfter`, RFC 3339 (UTC).
    pub not_after: String,
    #[serde(skip)]
    pub not_after_unix: i64,
    /// Issued by itself (subject = issuer).
    pub self_signed: bool,
}

/// Parses a DER certificate; None when it is not one.
pub fn parse(der: &[u8]) -> Option<CertInfo> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let not_after_unix = cert.validity().not_after.timestamp();
    let names = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                GeneralName::DNSName(d) => Some(d.to_string()),
                GeneralName::IPAddress(ip) => ip_text(ip),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    Some(CertInfo {
        subject: short_name(cert.subject()),
        issuer: issuer_name(cert.issuer()),
        names,
        not_after: rfc3339(not_after_unix),
        not_after_unix,
        self_signed: cert.subject().as_raw() == cert.issuer().as_raw(),
    })
}

impl CertInfo {
    /// Whole days until `notAfter` (negative once expired), from `now` (Unix seconds).
    pub fn days_to_expiry(&self, now: i64) -> i64 {
        (self.not_after_unix - now).div_euclid(86_400)
    }
}

fn first_text<'a>(
    mut it: impl Iterator<Item = &'a x509_parser::x509::AttributeTypeAndValue<'a>>,
) -> Option<String> {
    it.next().and_then(|a| a.as_str().ok()).map(str::to_string)
}

fn short_name(name: &X509Name) -> String {
    first_text(name.iter_common_name()).unwrap_or_else(|| name.to_string())
}

/// "CN, O" when both exist and differ, else whichever exists.
fn issuer_name(name: &X509Name) -> String {
    let cn = first_text(name.iter_common_name());
    let org = first_text(name.iter_organization());
    match (cn, org) {
        (Some(cn), Some(org)) if !cn.contains(&org) => format!("{cn}, {org}"),
        (Some(cn), _) => cn,
        (None, Some(org)) => org,
        (None, None) => name.to_string(),
    }
}

fn ip_text(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => {
            let b: [u8; 4] = bytes.try_into().ok()?;
            Some(std::net::Ipv4Addr::from(b).to_string())
        }
        16 => {
            let b: [u8; 16] = bytes.try_into().ok()?;
            Some(std::net::Ipv6Addr::from(b).to_string())
        }
        _ => None,
    }
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_767_225_599), "2025-12-31T23:59:59Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(parse(b"not der").is_none());
        assert!(parse(&[]).is_none());
    }

    #[test]
    fn counts_whole_days() {
        let info = CertInfo {
            subject: String::new(),
            issuer: String::new(),
            names: Vec::new(),
            not_after: String::new(),
            not_after_unix: 10 * 86_400,
            self_signed: false,
        };
        assert_eq!(info.days_to_expiry(0), 10);
        assert_eq!(info.days_to_expiry(86_400 * 10 + 1), -1);
    }
}
