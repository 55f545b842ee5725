//! The Prometheus text exposition format (version 0.0.4), for a node-exporter
//! textfile collector: `# HELP` and `# TYPE` lines, then one sample a line.

use std::fmt::Write;

#[derive(Clone, Copy)]
pub enum Kind {
    Gauge,
    Counter,
}

/// A metric family being written: its samples follow its HELP and TYPE lines.
pub struct Family<'a> {
    out: &'a mut String,
    name: &'static str,
}

/// The whole text, family by family.
#[derive(Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// Starts a family. Names are fixed in the code: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    pub fn family(&mut self, name: &'static str, kind: Kind, help: &str) -> Family<'_> {
        debug_assert!(valid_name(name), "{name}");
        let kind = match kind {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        };
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
        Family {
            out: &mut self.out,
            name,
        }
    }

    pub fn finish(self) -> String {
        self.out
    }
}

impl Family<'_> {
    /// One sample; label names are fixed in the code, values are escaped.
    pub fn sample(&mut self, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.out.push_str(self.name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                debug_assert!(valid_name(k) && !k.contains(':'), "{k}");
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", number(value));
        self
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Label values: backslash, double quote and line feed are escaped.
pub fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// HELP text: backslash and line feed are escaped.
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_families_with_escaped_labels() {
        let mut e = Exposition::default();
        e.family("goshim_x_total", Kind::Counter, "Things.\nMore.")
            .sample(&[("proxy", "a\"b\\c\nd")], 3.0)
            .sample(&[], 0.25);
        assert_eq!(
            e.finish(),
            "# HELP goshim_x_total Things.\\nMore.\n# TYPE goshim_x_total counter\n\
             goshim_x_total{proxy=\"a\\\"b\\\\c\\nd\"} 3\ngoshim_x_total 0.25\n"
        );
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::INFINITY), "+Inf");
    }
}
