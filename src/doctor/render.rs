//! The doctor's report as text: the ranked table, the problems found, the setup.

use std::fmt::Write;

use super::Report;
use super::report::ProxyReport;
use super::setup::Status;
use crate::error_class::ErrorClass;
use crate::probe::samples;

/// Width of the latency bar, in characters.
const BAR: usize = 12;

pub fn text(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "goshim doctor: {} {} in {:.2} s; health check {}/@v/list; freshness over {} module(s); times in ms",
        r.proxies.len(),
        if r.proxies.len() == 1 {
            "proxy"
        } else {
            "proxies"
        },
        r.duration_ms / 1000.0,
        r.probe_module,
        r.sample_modules.len()
    );
    out.push('\n');
    if r.proxies.is_empty() {
        out.push_str("  no proxies to probe (see the goproxy check below; --all probes the public mirrors)\n");
    } else {
        table(&mut out, &r.proxies);
        problems(&mut out, &r.proxies);
    }
    out.push_str("\nsetup:\n");
    for c in &r.setup {
        let _ = writeln!(out, "  {:5} {}: {}", c.status.as_str(), c.name, c.message);
        if let Some(fix) = c.fix.as_ref().filter(|_| c.status != Status::Ok) {
            let _ = writeln!(out, "        fix: {fix}");
        }
    }
    let _ = writeln!(out, "\n{}", verdict(r));
    out
}

/// The last line(s): the exit status, and when it is 1, what to do next.
fn verdict(r: &Report) -> String {
    if r.healthy {
        return "at least one healthy proxy serves modules (exit status 0)".into();
    }
    let in_use: Vec<&ProxyReport> = r.proxies.iter().filter(|p| p.in_use).collect();
    let spare = r
        .proxies
        .iter()
        .find(|p| !p.in_use && p.serves())
        .map(|p| p.url.as_str());
    let elsewhere = match spare {
        Some(url) => format!("{url} works: pick its preset with 'goshim use <preset>'"),
        None => {
            "'goshim doctor --all' ranks the public mirrors, 'goshim use <preset>' adds some".into()
        }
    };
    if in_use.is_empty() {
        return format!(
            "no proxy to use (exit status 1)\nnext: set one, e.g. go env -w GOPROXY=https://proxy.golang.org,direct; or {elsewhere}"
        );
    }
    if in_use.iter().any(|p| p.state != "down") {
        return samples::none_served(&r.samples).replacen('\n', " (exit status 1)\n", 1);
    }
    format!(
        "no healthy proxy (exit status 1)\nnext: see the problems above (network, proxy settings, certificates); or {elsewhere}"
    )
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| {
        if v >= 100.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.1}")
        }
    })
}

fn table(out: &mut String, proxies: &[ProxyReport]) {
    let slowest = proxies
        .iter()
        .filter(|p| p.state != "down")
        .filter_map(|p| p.latency.as_ref().map(|l| l.total_ms))
        .fold(0.0_f64, f64::max);
    let header = [
        "#", "PROXY", "USE", "STATE", "SCORE", "DNS", "CONNECT", "TLS", "TTFB", "TOTAL", "LATENCY",
        "SUMDB", "FRESH", "CERT",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    let mut guessed_sumdb = false;
    for p in proxies {
        let ok = p.state != "down";
        // A down proxy's timings (to a refusal, an error status) are no latency.
        let l = p.latency.as_ref().filter(|_| ok);
        let sumdb = match (p.sumdb, p.sumdb_known) {
            (Some(true), _) => "yes",
            (Some(false), _) => "no",
            (None, Some(true)) => {
                guessed_sumdb = true;
                "yes?"
            }
            (None, _) => "-",
        };
        let fresh = if p.lists_none() {
            "none".to_string()
        } else if p.freshness.modules_compared == 0 {
            "-".to_string()
        } else if p.freshness.missing_versions == 0 {
            "ok".to_string()
        } else {
            format!("-{}", p.freshness.missing_versions)
        };
        let cert = match &p.tls {
            None => "-".to_string(),
            Some(t) if t.valid => match t.days_to_expiry {
                Some(d) => format!("ok {d}d"),
                None => "ok".to_string(),
            },
            Some(t) => match t.error {
                Some(ErrorClass::TlsCertExpired) => "EXPIRED".into(),
                Some(ErrorClass::TlsCertNotYetValid) => "NOT YET VALID".into(),
                Some(ErrorClass::TlsCertName) => "WRONG NAME".into(),
                _ if t.self_signed == Some(true) => "SELF-SIGNED".into(),
                Some(ErrorClass::TlsCertUntrusted) => "UNTRUSTED".into(),
                Some(ErrorClass::TlsCertificate) => "REJECTED".into(),
                _ => "TLS ERROR".into(),
            },
        };
        rows.push(vec![
            p.rank.to_string(),
            p.url.clone(),
            p.source.as_str().to_string(),
            p.state.to_string(),
            format!("{:.2}", p.score),
            ms(l.and_then(|l| l.dns_ms)),
            ms(l.and_then(|l| l.connect_ms)),
            ms(l.and_then(|l| l.tls_ms)),
            ms(l.and_then(|l| l.first_byte_ms)),
            ms(l.map(|l| l.total_ms)),
            bar(l.map_or(0.0, |l| l.total_ms), slowest),
            sumdb.to_string(),
            fresh,
            cert,
        ]);
    }
    let columns = header.len();
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    // Numbers right-aligned, text left-aligned.
    let right = [0, 4, 5, 6, 7, 8, 9];
    for row in &rows {
        let mut line = String::from(" ");
        for (c, cell) in row.iter().enumerate() {
            let pad = widths[c] - cell.chars().count();
            line.push(' ');
            if right.contains(&c) {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                if c + 1 < columns {
                    line.push_str(&" ".repeat(pad));
                }
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    if guessed_sumdb {
        out.push_str("  SUMDB yes?: not asked or no answer; goshim's list of public mirrors says it serves the checksum database\n");
    }
}

/// A bar proportional to `value / max`, in eighths of a character.
fn bar(value: f64, max: f64) -> String {
    if max <= 0.0 || value <= 0.0 {
        return String::new();
    }
    const PARTS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    let eighths = ((value / max) * (BAR * 8) as f64)
        .round()
        .clamp(1.0, (BAR * 8) as f64) as usize;
    let mut s = "█".repeat(eighths / 8);
    if !eighths.is_multiple_of(8) {
        s.push(PARTS[eighths % 8]);
    }
    s
}

fn problems(out: &mut String, proxies: &[ProxyReport]) {
    let mut lines: Vec<String> = Vec::new();
    for p in proxies {
        if let Some(detail) = &p.error_detail {
            lines.push(format!("  {:>2}  {}: {detail}", p.rank, p.url));
        } else if p.lists_none() {
            lines.push(format!(
                "  {:>2}  {}: answers 404/410 for every sample module: not counted as serving modules (expected only of a proxy for private modules)",
                p.rank, p.url
            ));
        }
        for m in &p.freshness.modules {
            if let Some(missing) = m.missing.as_ref().filter(|m| !m.is_empty())
                && !m.gone
            {
                lines.push(format!(
                    "  {:>2}  {}: index behind for {}: lacks {}",
                    p.rank,
                    p.url,
                    m.module,
                    list(missing)
                ));
            }
        }
        if let Some(t) = p.tls.as_ref().filter(|t| t.valid)
            && let Some(reason) = &t.reason
        {
            lines.push(format!("  {:>2}  {}: {reason}", p.rank, p.url));
        }
    }
    if !lines.is_empty() {
        out.push_str("\nproblems:\n");
        for l in lines {
            let _ = writeln!(out, "{l}");
        }
    }
    let certs: Vec<String> = proxies
        .iter()
        .filter_map(|p| {
            let t = p.tls.as_ref()?;
            Some(format!(
                "  {:>2}  {}: {}, issued by {}, valid until {}",
                p.rank,
                p.url,
                t.subject.as_deref().unwrap_or("?"),
                t.issuer.as_deref().unwrap_or("?"),
                t.not_after.as_deref().unwrap_or("?")
            ))
        })
        .collect();
    if !certs.is_empty() {
        out.push_str("\ncertificates:\n");
        for l in certs {
            let _ = writeln!(out, "{l}");
        }
    }
}

/// At most 5 versions, then "and N more".
fn list(versions: &[String]) -> String {
    if versions.len() <= 5 {
        versions.join(", ")
    } else {
        format!(
            "{}, and {} more",
            versions[..5].join(", "),
            versions.len() - 5
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_slowest() {
        assert_eq!(bar(100.0, 100.0).chars().count(), BAR);
        assert_eq!(bar(50.0, 100.0), "██████");
        assert_eq!(bar(1.0, 1000.0), "▏");
        assert_eq!(bar(0.0, 100.0), "");
    }
}
