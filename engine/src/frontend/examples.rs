//! Example files: evidence for a rule whose own format has no place for it (Sigma and Elastic
//! rules carry no records). Beside `foo.yml` (or `foo.toml`), a file `foo.examples.toml` holds
//! records in the shape native rules use, and they attach to every rule compiled from `foo.*`:
//!
//! ```toml
//! [[example]]
//! name = "a console login without MFA"
//! matches = true
//! record = '''{"eventName":"ConsoleLogin", ...}'''
//! ```
//!
//! `cargo test`, `trailtag rules test` and the playground run them like native examples.

use serde::Deserialize;
use toml::Spanned;

use super::native::{parse_toml, problem, string_content_start};
use crate::error::{RuleError, RuleErrorKind, line_column};
use crate::rule::Example;

/// The suffix that makes a file an example file.
pub const EXAMPLES_SUFFIX: &str = ".examples.toml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExamplesFile {
    example: Vec<ExampleSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExampleSpec {
    name: String,
    matches: bool,
    record: Spanned<String>,
}

/// Whether `name` is an example file.
pub fn is_examples_file(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(EXAMPLES_SUFFIX)
}

/// The rule-file stem an example file belongs to (`dir/foo.examples.toml` → `dir/foo`).
pub fn examples_stem(name: &str) -> &str {
    &name[..name.len().saturating_sub(EXAMPLES_SUFFIX.len())]
}

/// A rule file's stem (`dir/foo.yml` → `dir/foo`).
pub fn rule_stem(name: &str) -> &str {
    name.rsplit_once('.').map_or(name, |(stem, _)| stem)
}

/// Reads an example file; every record must be valid JSON.
pub(crate) fn compile_examples_file(
    file: &str,
    text: &str,
) -> Result<Vec<Example>, Vec<RuleError>> {
    let spec: ExamplesFile = parse_toml(file, text)?;
    let mut errors = Vec::new();
    let examples = spec
        .example
        .into_iter()
        .map(|e| {
            let start = string_content_start(text, e.record.span().start);
            let record = e.record.into_inner();
            if let Err(error) = serde_json::from_str::<serde_json::Value>(&record) {
                errors.push(problem(
                    file,
                    text,
                    start,
                    None,
                    RuleErrorKind::Metadata,
                    format!(
                        "example {:?}: the record is not valid JSON: {error}",
                        e.name
                    ),
                ));
            }
            Example {
                name: e.name,
                matches: e.matches,
                record,
                line: line_column(text, start).0,
            }
        })
        .collect();
    if errors.is_empty() {
        Ok(examples)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_pair_rule_files_with_their_examples() {
        assert!(is_examples_file("dir/a.Examples.TOML"));
        assert!(!is_examples_file("dir/a.toml"));
        assert_eq!(examples_stem("dir/a.examples.toml"), "dir/a");
        assert_eq!(rule_stem("dir/a.yml"), "dir/a");
    }

    #[test]
    fn records_must_be_json() {
        let text = "[[example]]\nname = \"x\"\nmatches = true\nrecord = '''{'''\n";
        let errors = compile_examples_file("a.examples.toml", text).unwrap_err();
        assert_eq!(errors[0].line, 4);
        let ok = "[[example]]\nname = \"x\"\nmatches = false\nrecord = '''{}'''\n";
        assert_eq!(
            compile_examples_file("a.examples.toml", ok).unwrap().len(),
            1
        );
    }
}
