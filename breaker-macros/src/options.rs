//! The options of `#[circuit(...)]`, parsed with their spans so that every error points at the
//! option that caused it.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::{parenthesized, Expr, ExprLit, Lit, LitStr, Pat, Path, Result};

use crate::duration;

/// The names accepted, for the "unknown option" message.
const KNOWN: &str = "failure_threshold, recovery, success_threshold, half_open_trials, \
    expected, exclude, name, fallback, preset, crate";

/// Which errors a rule picks out: a predicate over `&E` (`expected = is_transient`), or a list of
/// patterns (`expected(Error::Timeout | Error::Connect(_))`).
pub(crate) enum ErrorRule {
    Predicate(Expr),
    Patterns(Pat),
}

/// A value that sets one builder method, kept with the span of the option.
pub(crate) struct Setting {
    pub(crate) span: Span,
    pub(crate) value: Expr,
}

/// The duration of `recovery`: a literal read now, or an expression of the runtime crate's
/// `Duration` type.
pub(crate) enum Recovery {
    Micros(u64, Span),
    Expr(Expr),
}

#[derive(Default)]
pub(crate) struct Options {
    pub(crate) failure_threshold: Option<Setting>,
    pub(crate) success_threshold: Option<Setting>,
    pub(crate) half_open_trials: Option<Setting>,
    pub(crate) recovery: Option<Recovery>,
    pub(crate) expected: Option<ErrorRule>,
    pub(crate) exclude: Option<ErrorRule>,
    pub(crate) name: Option<LitStr>,
    pub(crate) fallback: Option<Path>,
    pub(crate) preset: Option<Expr>,
    pub(crate) krate: Option<Path>,
}

fn set_once<T>(slot: &mut Option<T>, value: T, meta: &ParseNestedMeta<'_>) -> Result<()> {
    if slot.is_some() {
        return Err(meta.error("this option is given twice"));
    }
    *slot = Some(value);
    Ok(())
}

/// A count: a literal is checked now (an integer, at least 1, at most `max`); any other
/// expression is left to the type checker and to the configuration's own const-evaluated check.
fn count(meta: &ParseNestedMeta<'_>, max: u64) -> Result<Setting> {
    let value: Expr = meta.value()?.parse()?;
    let span = meta
        .path
        .get_ident()
        .map_or_else(Span::call_site, |i| i.span());
    if let Expr::Lit(ExprLit { lit, .. }) = &value {
        let Lit::Int(int) = lit else {
            return Err(syn::Error::new_spanned(
                lit,
                "expected an integer, like `5`",
            ));
        };
        let n: u64 = int.base10_parse()?;
        if n == 0 {
            return Err(syn::Error::new_spanned(
                int,
                "must be at least 1 (a breaker that opens before any failure would never admit a call)",
            ));
        }
        if n > max {
            return Err(syn::Error::new_spanned(
                int,
                format!("must be at most {max}"),
            ));
        }
    }
    Ok(Setting { span, value })
}

fn error_rule(meta: &ParseNestedMeta<'_>) -> Result<ErrorRule> {
    if meta.input.peek(syn::Token![=]) {
        let value: Expr = meta.value()?.parse()?;
        if let Expr::Lit(lit) = &value {
            return Err(syn::Error::new_spanned(
                lit,
                "expected a predicate over `&E` (a function path or a closure), or a list of \
                 patterns in parentheses: `expected(MyError::Timeout | MyError::Connect(_))`",
            ));
        }
        Ok(ErrorRule::Predicate(value))
    } else if meta.input.peek(syn::token::Paren) {
        let content;
        parenthesized!(content in meta.input);
        let pat = Pat::parse_multi_with_leading_vert(&content)?;
        Ok(ErrorRule::Patterns(pat))
    } else {
        Err(meta.error("expected `= predicate` or `(Pattern | Pattern)`"))
    }
}

impl Options {
    pub(crate) fn parse(&mut self, meta: ParseNestedMeta<'_>) -> Result<()> {
        let Some(ident) = meta.path.get_ident() else {
            return Err(meta.error(format!("unknown option; expected one of: {KNOWN}")));
        };
        match ident.to_string().as_str() {
            "failure_threshold" => {
                let v = count(&meta, u32::MAX as u64)?;
                set_once(&mut self.failure_threshold, v, &meta)
            }
            "success_threshold" => {
                let v = count(&meta, u16::MAX as u64)?;
                set_once(&mut self.success_threshold, v, &meta)
            }
            "half_open_trials" => {
                let v = count(&meta, u16::MAX as u64)?;
                set_once(&mut self.half_open_trials, v, &meta)
            }
            "recovery" => {
                let value: Expr = meta.value()?.parse()?;
                let recovery = match value {
                    Expr::Lit(ExprLit {
                        lit: Lit::Str(s), ..
                    }) => {
                        let micros = duration::parse_micros(&s.value())
                            .map_err(|e| syn::Error::new(s.span(), e))?;
                        if micros == 0 {
                            return Err(syn::Error::new(
                                s.span(),
                                "the recovery time must be longer than zero",
                            ));
                        }
                        Recovery::Micros(micros, s.span())
                    }
                    Expr::Lit(lit) => {
                        return Err(syn::Error::new_spanned(
                            lit,
                            "expected a duration: a string like \"30s\" or \"250ms\", or an \
                             expression such as `Duration::from_secs(30)`",
                        ))
                    }
                    other => Recovery::Expr(other),
                };
                set_once(&mut self.recovery, recovery, &meta)
            }
            "expected" => {
                let v = error_rule(&meta)?;
                set_once(&mut self.expected, v, &meta)
            }
            "exclude" => {
                let v = error_rule(&meta)?;
                set_once(&mut self.exclude, v, &meta)
            }
            "name" => {
                let value: Expr = meta.value()?.parse()?;
                let Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) = value
                else {
                    return Err(syn::Error::new_spanned(
                        value,
                        "expected a string literal, like `name = \"billing\"`",
                    ));
                };
                set_once(&mut self.name, s, &meta)
            }
            "fallback" => {
                let value: Expr = meta.value()?.parse()?;
                let Expr::Path(p) = value else {
                    return Err(syn::Error::new_spanned(
                        value,
                        "expected the path of a function taking the same arguments, like \
                         `fallback = cached_reply` or `fallback = Self::cached`",
                    ));
                };
                set_once(&mut self.fallback, p.path, &meta)
            }
            "preset" => {
                let value: Expr = meta.value()?.parse()?;
                set_once(&mut self.preset, value, &meta)
            }
            "crate" => {
                let path: Path = meta.value()?.call(Path::parse_mod_style)?;
                set_once(&mut self.krate, path, &meta)
            }
            other => Err(meta.error(format!(
                "unknown option `{other}`; expected one of: {KNOWN}"
            ))),
        }
    }
}
