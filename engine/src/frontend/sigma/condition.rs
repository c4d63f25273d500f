//! The `condition` of a detection: its grammar, and its lowering over the compiled selections.
//!
//! ```text
//! or       := and ("or" and)*
//! and      := not ("and" not)*
//! not      := "not" not | primary
//! primary  := "(" or ")" | quantity "of" target | name
//! quantity := "1" | "any" | "all"
//! target   := "them" | pattern
//! ```
//!
//! Precedence, loosest to tightest, is the specification's: `or`, `and`, `not`, `x of`,
//! parentheses. Keywords are case-insensitive. A name is letters, digits, `_` and `-`; a pattern
//! may also hold `*` (any run of characters). `them` means every selection whose name does not
//! start with `_`. `1 of` is the OR of the selections a pattern matches, `all of` their AND, in
//! the order they are defined. A name that is not defined, and a pattern that matches nothing,
//! are errors at their place in the condition.
//!
//! Aggregations (`| count() ...`) and `near` need state across records: they are reported as
//! unsupported where they start.

use crate::error::RuleErrorKind;
use crate::ir::Expr;

/// A problem in a condition, `offset` characters into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ConditionError {
    pub offset: usize,
    pub kind: RuleErrorKind,
    pub message: String,
}

/// A parsed condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Cond {
    Name(String, usize),
    Of(Quantity, String, usize),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
}

impl std::fmt::Display for Cond {
    /// The condition as a rule would write it (explanations show a rule's clauses this way).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let grouped = |term: &Cond| match term {
            Cond::And(_) | Cond::Or(_) => format!("({term})"),
            _ => term.to_string(),
        };
        match self {
            Cond::Name(name, _) => f.write_str(name),
            Cond::Of(Quantity::One, pattern, _) => write!(f, "1 of {pattern}"),
            Cond::Of(Quantity::All, pattern, _) => write!(f, "all of {pattern}"),
            Cond::And(terms) => {
                let terms: Vec<String> = terms.iter().map(grouped).collect();
                f.write_str(&terms.join(" and "))
            }
            Cond::Or(terms) => {
                let terms: Vec<String> = terms.iter().map(grouped).collect();
                f.write_str(&terms.join(" or "))
            }
            Cond::Not(inner) => write!(f, "not {}", grouped(inner)),
        }
    }
}

impl Cond {
    /// The terms that must all hold: the operands of a top-level `and`, or the condition
    /// itself.
    pub(super) fn conjuncts(&self) -> Vec<&Cond> {
        match self {
            Cond::And(terms) => terms.iter().collect(),
            other => vec![other],
        }
    }
}

/// `1 of` or `all of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Quantity {
    One,
    All,
}

const NEAR: &str = "`near` relates several records; trailtag decides each record on its own";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Open,
    Close,
}

/// Parses a condition.
pub(super) fn parse(text: &str) -> Result<Cond, ConditionError> {
    let tokens = lex(text)?;
    let mut parser = Parser {
        tokens,
        next: 0,
        end: text.chars().count(),
    };
    if parser.tokens.is_empty() {
        return Err(error(
            0,
            "the condition is empty: name the selections that must match",
        ));
    }
    let cond = parser.or()?;
    match parser.peek() {
        None => Ok(cond),
        Some((Token::Word(w), offset)) if w.eq_ignore_ascii_case("near") => {
            Err(unsupported(offset, NEAR))
        }
        Some((_, offset)) => Err(error(
            offset,
            "expected `and`, `or` or the end of the condition here",
        )),
    }
}

fn lex(text: &str) -> Result<Vec<(Token, usize)>, ConditionError> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().enumerate().peekable();
    while let Some((offset, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '(' => tokens.push((Token::Open, offset)),
            ')' => tokens.push((Token::Close, offset)),
            '|' => {
                return Err(unsupported(
                    offset,
                    "aggregations (`| count() ...`) count records over time; trailtag decides each record on its own",
                ));
            }
            c if is_word_char(c) => {
                let mut word = String::from(c);
                while let Some((_, c)) = chars.next_if(|(_, c)| is_word_char(*c)) {
                    word.push(c);
                }
                tokens.push((Token::Word(word), offset));
            }
            c => {
                return Err(error(
                    offset,
                    format!(
                        "`{c}` has no meaning in a condition (names are letters, digits, `_`, `-` and `*`)"
                    ),
                ));
            }
        }
    }
    Ok(tokens)
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '*')
}

struct Parser {
    tokens: Vec<(Token, usize)>,
    next: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<(&Token, usize)> {
        self.tokens.get(self.next).map(|(t, o)| (t, *o))
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some((Token::Word(w), _)) if w.eq_ignore_ascii_case(keyword))
    }

    fn advance(&mut self) -> Option<(Token, usize)> {
        let token = self.tokens.get(self.next).cloned();
        self.next += 1;
        token
    }

    fn or(&mut self) -> Result<Cond, ConditionError> {
        self.chain("or", Self::and, Cond::Or)
    }

    fn and(&mut self) -> Result<Cond, ConditionError> {
        self.chain("and", Self::not, Cond::And)
    }

    /// `operand (keyword operand)*`, grouped when there is more than one operand.
    fn chain(
        &mut self,
        keyword: &str,
        operand: fn(&mut Self) -> Result<Cond, ConditionError>,
        group: fn(Vec<Cond>) -> Cond,
    ) -> Result<Cond, ConditionError> {
        let mut terms = vec![operand(self)?];
        while self.peek_keyword(keyword) {
            self.advance();
            terms.push(operand(self)?);
        }
        Ok(match terms.len() {
            1 => terms.remove(0),
            _ => group(terms),
        })
    }

    fn not(&mut self) -> Result<Cond, ConditionError> {
        if self.peek_keyword("not") {
            self.advance();
            return Ok(Cond::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Cond, ConditionError> {
        let Some((token, offset)) = self.advance() else {
            return Err(error(
                self.end,
                "the condition ends where a selection name is expected",
            ));
        };
        match token {
            Token::Open => {
                let inner = self.or()?;
                match self.advance() {
                    Some((Token::Close, _)) => Ok(inner),
                    _ => Err(error(offset, "this `(` is never closed")),
                }
            }
            Token::Close => Err(error(
                offset,
                "a `)` without its `(`, or where a selection name is expected",
            )),
            Token::Word(word) => self.word(word, offset),
        }
    }

    fn word(&mut self, word: String, offset: usize) -> Result<Cond, ConditionError> {
        let lower = word.to_ascii_lowercase();
        if self.peek_keyword("of") {
            let quantity = match lower.as_str() {
                "1" | "any" => Quantity::One,
                "all" => Quantity::All,
                _ => {
                    return Err(error(
                        offset,
                        format!("`{word} of` is not a quantity: write `1 of` or `all of`"),
                    ));
                }
            };
            self.advance();
            return match self.advance() {
                Some((Token::Word(target), at)) if !is_keyword(&target) => {
                    Ok(Cond::Of(quantity, target, at))
                }
                _ => Err(error(
                    offset,
                    format!("`{word} of` must be followed by `them` or a selection pattern"),
                )),
            };
        }
        match lower.as_str() {
            "near" => Err(unsupported(offset, NEAR)),
            "and" | "or" | "not" | "of" | "them" => Err(error(
                offset,
                format!("`{word}` where a selection name is expected"),
            )),
            _ if word.contains('*') => Err(error(
                offset,
                format!("`{word}` is a pattern: write `1 of {word}` or `all of {word}`"),
            )),
            _ => Ok(Cond::Name(word, offset)),
        }
    }
}

fn is_keyword(word: &str) -> bool {
    ["and", "or", "not", "of"]
        .iter()
        .any(|k| word.eq_ignore_ascii_case(k))
}

fn error(offset: usize, message: impl Into<String>) -> ConditionError {
    ConditionError {
        offset,
        kind: RuleErrorKind::Query,
        message: message.into(),
    }
}

fn unsupported(offset: usize, message: &str) -> ConditionError {
    ConditionError {
        offset,
        kind: RuleErrorKind::Unsupported,
        message: message.to_owned(),
    }
}

/// Lowers `cond` with the selections as compiled, in definition order (`None`: a selection that
/// failed to compile, already reported; it lowers to `never`).
pub(super) fn lower(
    cond: &Cond,
    selections: &[(String, Option<Expr>)],
) -> Result<Expr, Vec<ConditionError>> {
    let mut errors = Vec::new();
    let expr = lower_into(cond, selections, &mut errors);
    if errors.is_empty() {
        Ok(expr)
    } else {
        Err(errors)
    }
}

fn lower_into(
    cond: &Cond,
    selections: &[(String, Option<Expr>)],
    errors: &mut Vec<ConditionError>,
) -> Expr {
    let compiled = |expr: &Option<Expr>| expr.clone().unwrap_or_else(Expr::never);
    match cond {
        Cond::Name(name, offset) => match selections.iter().find(|(n, _)| n == name) {
            Some((_, expr)) => compiled(expr),
            None => {
                errors.push(error(*offset, format!("no selection is named `{name}`")));
                Expr::never()
            }
        },
        Cond::Of(quantity, pattern, offset) => {
            let matched: Vec<Expr> = selections
                .iter()
                .filter(|(name, _)| matches_pattern(pattern, name))
                .map(|(_, expr)| compiled(expr))
                .collect();
            if matched.is_empty() {
                errors.push(error(
                    *offset,
                    format!("no selection name matches `{pattern}`"),
                ));
            }
            match quantity {
                Quantity::One => Expr::Any(matched),
                Quantity::All => Expr::All(matched),
            }
        }
        Cond::And(terms) => Expr::All(
            terms
                .iter()
                .map(|t| lower_into(t, selections, errors))
                .collect(),
        ),
        Cond::Or(terms) => Expr::Any(
            terms
                .iter()
                .map(|t| lower_into(t, selections, errors))
                .collect(),
        ),
        Cond::Not(inner) => lower_into(inner, selections, errors).negate(),
    }
}

/// Whether a selection name matches a pattern of `1 of` / `all of` (`them`: every name not
/// starting with `_`).
fn matches_pattern(pattern: &str, name: &str) -> bool {
    if pattern.eq_ignore_ascii_case("them") {
        return !name.starts_with('_');
    }
    glob(pattern.as_bytes(), name.as_bytes())
}

/// `*` matches any run of bytes; everything else itself.
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|skip| glob(rest, &name[skip..])),
        Some((c, rest)) => name
            .split_first()
            .is_some_and(|(n, tail)| n == c && glob(rest, tail)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(cond: &Cond) -> String {
        match cond {
            Cond::Name(n, _) => n.clone(),
            Cond::Of(Quantity::One, p, _) => format!("1of({p})"),
            Cond::Of(Quantity::All, p, _) => format!("allof({p})"),
            Cond::And(t) => format!("and({})", t.iter().map(show).collect::<Vec<_>>().join(",")),
            Cond::Or(t) => format!("or({})", t.iter().map(show).collect::<Vec<_>>().join(",")),
            Cond::Not(i) => format!("not({})", show(i)),
        }
    }

    fn parsed(text: &str) -> String {
        show(&parse(text).unwrap())
    }

    #[test]
    fn precedence_is_or_and_not_of_parentheses() {
        assert_eq!(parsed("a or b and c"), "or(a,and(b,c))");
        assert_eq!(parsed("a and b or c"), "or(and(a,b),c)");
        assert_eq!(parsed("not a and b"), "and(not(a),b)");
        assert_eq!(
            parsed("not 1 of filter_* and sel"),
            "and(not(1of(filter_*)),sel)"
        );
        assert_eq!(parsed("a and (b or c)"), "and(a,or(b,c))");
        assert_eq!(parsed("not not a"), "not(not(a))");
        assert_eq!(
            parsed("A AND NOT B OR ALL OF them"),
            "or(and(A,not(B)),allof(them))"
        );
        assert_eq!(parsed("any of sel* and x-y"), "and(1of(sel*),x-y)");
        assert_eq!(
            parsed(
                "selection_event_source and 1 of selection_action_* and 1 of selection_status_*"
            ),
            "and(selection_event_source,1of(selection_action_*),1of(selection_status_*))"
        );
    }

    #[test]
    fn mistakes_are_reported_where_they_are() {
        for (text, offset, words) in [
            ("", 0, "empty"),
            ("a and", 5, "ends where"),
            ("(a or b", 0, "never closed"),
            ("a b", 2, "expected `and`"),
            ("a and )", 6, "without its `(`"),
            ("sel*", 0, "is a pattern"),
            ("2 of sel*", 0, "not a quantity"),
            ("1 of", 0, "must be followed"),
            ("a & b", 2, "no meaning"),
            ("a and or", 6, "where a selection name"),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.kind, RuleErrorKind::Query, "{text}");
            assert_eq!(e.offset, offset, "{text}: {}", e.message);
            assert!(e.message.contains(words), "{text}: {}", e.message);
        }
        let e = parse("selection | count() by userName > 10").unwrap_err();
        assert_eq!((e.kind, e.offset), (RuleErrorKind::Unsupported, 10));
        let e = parse("a near b").unwrap_err();
        assert_eq!((e.kind, e.offset), (RuleErrorKind::Unsupported, 2));
    }

    fn selections(names: &[&str]) -> Vec<(String, Option<Expr>)> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let marker = Expr::All(vec![Expr::Any(vec![]); i + 1]);
                ((*n).to_owned(), Some(marker))
            })
            .collect()
    }

    #[test]
    fn patterns_pick_selections_in_definition_order() {
        let sels = selections(&["sel_b", "_hidden", "sel_a", "filter"]);
        let one = lower(&parse("1 of sel_*").unwrap(), &sels).unwrap();
        assert_eq!(
            one,
            Expr::Any(vec![sels[0].1.clone().unwrap(), sels[2].1.clone().unwrap()])
        );
        let them = lower(&parse("all of them").unwrap(), &sels).unwrap();
        let Expr::All(terms) = them else {
            panic!("an AND")
        };
        assert_eq!(terms.len(), 3, "`_hidden` is skipped");
        let hidden = lower(&parse("1 of _*").unwrap(), &sels).unwrap();
        assert_eq!(hidden, Expr::Any(vec![sels[1].1.clone().unwrap()]));
        assert!(matches_pattern("*a*b", "xaYb") && !matches_pattern("a*", "ba"));
    }

    #[test]
    fn unknown_names_and_empty_patterns_are_errors_with_offsets() {
        let sels = selections(&["selection"]);
        let errors = lower(
            &parse("selection and not filter or 1 of x*").unwrap(),
            &sels,
        )
        .unwrap_err();
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].offset, 18);
        assert!(errors[0].message.contains("`filter`"));
        assert_eq!(errors[1].offset, 33);
        assert!(errors[1].message.contains("matches `x*`"));
    }
}
