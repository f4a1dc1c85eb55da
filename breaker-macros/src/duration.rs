//! Duration literals: `"30s"`, `"250ms"`, `"1m30s"`, read when the macro expands so that a typo
//! is a compile error at the literal.

/// Microseconds in one of each unit, longest suffix first so that `ms` is not read as `m`.
const UNITS: [(&str, u64); 6] = [
    ("us", 1),
    ("ms", 1_000),
    ("s", 1_000_000),
    ("m", 60_000_000),
    ("h", 3_600_000_000),
    ("d", 86_400_000_000),
];

/// The microseconds that `text` names: one or more `<integer><unit>` parts (`"1m30s"`), units
/// `us`, `ms`, `s`, `m`, `h`, `d`.
pub(crate) fn parse_micros(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration: write it like \"30s\" or \"250ms\"".into());
    }
    let mut rest = text;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!(
                "expected a number at `{rest}` in \"{text}\" (write it like \"30s\" or \"250ms\")"
            ));
        }
        let (number, after) = rest.split_at(digits);
        let letters = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, after) = after.split_at(letters);
        let Some(&(_, scale)) = UNITS.iter().find(|(u, _)| *u == unit) else {
            return Err(if unit.is_empty() {
                format!("missing unit after `{number}` in \"{text}\" (us, ms, s, m, h or d)")
            } else {
                format!("unknown unit `{unit}` in \"{text}\" (us, ms, s, m, h or d)")
            });
        };
        let part = number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(scale))
            .and_then(|p| total.checked_add(p));
        total = part.ok_or_else(|| format!("\"{text}\" is too long"))?;
        rest = after;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::parse_micros;

    #[test]
    fn reads_units_and_sums_parts() {
        assert_eq!(parse_micros("30s"), Ok(30_000_000));
        assert_eq!(parse_micros("250ms"), Ok(250_000));
        assert_eq!(parse_micros("750us"), Ok(750));
        assert_eq!(parse_micros("1m30s"), Ok(90_000_000));
        assert_eq!(parse_micros("2h"), Ok(7_200_000_000));
        assert_eq!(parse_micros("1d"), Ok(86_400_000_000));
        assert_eq!(parse_micros(" 5s "), Ok(5_000_000));
        assert_eq!(parse_micros("0s"), Ok(0)); // refused by the caller, with its own message
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        for bad in [
            "",
            "30",
            "s",
            "30 s",
            "1.5s",
            "30sec",
            "-1s",
            "99999999999999999999d",
        ] {
            assert!(parse_micros(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
