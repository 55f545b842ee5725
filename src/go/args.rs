//! go's command line as go itself first reads it.

use std::ffi::OsString;

/// The arguments split after a leading `-C dir` or `-C=dir`: go accepts the
/// flag only first, and acts on it before anything else (even before it
/// picks a toolchain). Returns (the flag's words, the rest).
pub fn split_chdir(args: &[OsString]) -> (&[OsString], &[OsString]) {
    let n = match args.first().and_then(|a| a.to_str()) {
        Some("-C") => args.len().min(2),
        Some(a) if a.starts_with("-C=") => 1,
        _ => 0,
    };
    args.split_at(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_a_leading_chdir_flag_only() {
        let words =
            |line: &str| -> Vec<OsString> { line.split_whitespace().map(OsString::from).collect() };
        let split = |line: &str| {
            let args = words(line);
            let (flag, rest) = split_chdir(&args);
            (flag.to_vec(), rest.to_vec())
        };
        assert_eq!(
            split("-C sub env GOPROXY"),
            (words("-C sub"), words("env GOPROXY"))
        );
        assert_eq!(split("-C=sub build"), (words("-C=sub"), words("build")));
        assert_eq!(split("-C"), (words("-C"), words("")));
        assert_eq!(split("build -C sub"), (words(""), words("build -C sub")));
        assert_eq!(split(""), (words(""), words("")));
    }
}
