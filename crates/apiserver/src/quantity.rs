//! `resource.Quantity` as apimachinery reads and writes it: the grammar
//! `ParseQuantity` accepts, its rounding up to nano units, its canonical
//! form (`0.5` is stored as `500m`, `1024Mi` as `1Gi`), and its ordering,
//! for the container resources a pod template carries.

use std::cmp::Ordering;

/// The three errors `ParseQuantity` gives, worded as apimachinery words
/// them (they reach a client inside a decoding error).
pub const FORMAT_WRONG: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
pub const SUFFIX: &str = "unable to parse quantity's suffix";
pub const NUMERIC: &str = "unable to parse numeric part of quantity";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    DecimalExponent,
    BinarySi,
    DecimalSi,
}

/// A quantity: `mantissa × 10^scale`, with the suffix family it was
/// written in (which its canonical form keeps).
#[derive(Clone, Copy, Debug)]
pub struct Quantity {
    mantissa: i128,
    scale: i32,
    format: Format,
}

/// The smallest unit a quantity keeps (`Nano`): finer values round up.
const NANO: i32 = -9;
/// `maxAllowed`: a binary quantity is capped at 2^63 - 1.
const MAX_ALLOWED: i128 = i64::MAX as i128;

fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

/// `parseQuantityString`: sign, digits, an optional fraction, a suffix.
fn split(text: &str) -> Result<(bool, &str, &str, &str), &'static str> {
    let b = text.as_bytes();
    let (mut pos, end) = (0, b.len());
    let mut positive = true;
    if let Some(&c) = b.first() {
        if c == b'-' {
            positive = false;
            pos += 1;
        } else if c == b'+' {
            pos += 1;
        }
    }
    while pos < end && b[pos] == b'0' {
        pos += 1;
    }
    if pos >= end {
        return Ok((positive, "0", "", ""));
    }
    let digits = |from: usize| from + b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let num_end = digits(pos);
    let num = if num_end == pos {
        "0"
    } else {
        &text[pos..num_end]
    };
    pos = num_end;
    let mut denom = "";
    if pos < end && b[pos] == b'.' {
        let start = pos + 1;
        pos = digits(start);
        denom = &text[start..pos];
    }
    let suffix_start = pos;
    while pos < end && b"eEinumkKMGTP".contains(&b[pos]) {
        pos += 1;
    }
    if pos < end && (b[pos] == b'-' || b[pos] == b'+') {
        pos += 1;
    }
    pos = digits(pos);
    if pos < end {
        return Err(FORMAT_WRONG);
    }
    Ok((positive, num, denom, &text[suffix_start..]))
}

/// `quantitySuffixer.interpret`: the base, exponent and format a suffix
/// stands for.
fn suffix(s: &str) -> Option<(u32, i32, Format)> {
    let decimal = |e| Some((10, e, Format::DecimalSi));
    let binary = |e| Some((2, e, Format::BinarySi));
    match s {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        _ => {
            let rest = s.strip_prefix(['e', 'E'])?;
            let exponent: i32 = rest.parse().ok()?;
            Some((10, exponent, Format::DecimalExponent))
        }
    }
}

/// `ParseQuantity`.
pub fn parse(text: &str) -> Result<Quantity, &'static str> {
    if text.is_empty() {
        return Err(FORMAT_WRONG);
    }
    let (positive, num, denom, suffix_text) = split(text)?;
    let (base, exponent, mut format) = suffix(suffix_text).ok_or(SUFFIX)?;
    let digits = format!("{num}{denom}");
    let mut mantissa: i128 = digits.parse().map_err(|_| NUMERIC)?;
    let mut scale = -(denom.len() as i32);
    if base == 10 {
        scale += exponent;
    } else {
        mantissa = mantissa.checked_mul(1i128 << exponent).ok_or(NUMERIC)?;
    }
    if mantissa != 0 && scale < NANO {
        // Round up (away from zero) to a whole number of nano units.
        let divisor = pow10((NANO - scale) as u32).ok_or(NUMERIC)?;
        mantissa = mantissa / divisor + i128::from(mantissa % divisor != 0);
        scale = NANO;
    }
    let mut q = Quantity {
        mantissa: if positive { mantissa } else { -mantissa },
        scale,
        format,
    };
    if format == Format::BinarySi {
        if q.cmp_int(MAX_ALLOWED) == Ordering::Greater {
            q.mantissa = MAX_ALLOWED;
            q.scale = 0;
        }
        if q.mantissa > 0 && q.cmp_int(1) == Ordering::Less {
            format = Format::DecimalSi;
        }
        q.format = format;
    }
    Ok(q)
}

impl Quantity {
    fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    pub fn is_negative(&self) -> bool {
        self.mantissa < 0
    }

    fn cmp_int(&self, n: i128) -> Ordering {
        self.cmp(&Quantity {
            mantissa: n,
            scale: 0,
            format: Format::DecimalSi,
        })
    }

    /// `Quantity.Cmp`.
    pub fn cmp(&self, other: &Quantity) -> Ordering {
        let scale = self.scale.min(other.scale);
        let at =
            |q: &Quantity| pow10((q.scale - scale) as u32).and_then(|f| q.mantissa.checked_mul(f));
        match (at(self), at(other)) {
            (Some(a), Some(b)) => a.cmp(&b),
            // Beyond 10^38: exact order is past what this keeps.
            _ => {
                let approx = |q: &Quantity| q.mantissa as f64 * 10f64.powi(q.scale);
                approx(self)
                    .partial_cmp(&approx(other))
                    .unwrap_or(Ordering::Equal)
            }
        }
    }

    /// The value as a float, approximately (`AsApproximateFloat64`).
    pub fn approximate(&self) -> f64 {
        self.mantissa as f64 * 10f64.powi(self.scale)
    }

    /// The value as a whole number, when it is one.
    pub fn integer(&self) -> Option<i128> {
        if self.scale >= 0 {
            pow10(self.scale as u32).and_then(|f| self.mantissa.checked_mul(f))
        } else {
            let d = pow10((-self.scale) as u32)?;
            (self.mantissa % d == 0).then(|| self.mantissa / d)
        }
    }

    /// `Quantity.String()`: the canonical form a server stores.
    pub fn canonical(&self) -> String {
        if self.is_zero() {
            return "0".to_string();
        }
        let mut format = self.format;
        let mut whole = None;
        if format == Format::BinarySi {
            if self.cmp_int(-1024) == Ordering::Greater && self.cmp_int(1024) == Ordering::Less {
                format = Format::DecimalSi;
            } else {
                whole = self.integer();
                if whole.is_none() {
                    format = Format::DecimalSi;
                }
            }
        }
        if let (Format::BinarySi, Some(mut n)) = (format, whole) {
            let mut exponent = 0;
            while n % 1024 == 0 {
                n /= 1024;
                exponent += 10;
            }
            let unit = match exponent {
                0 => "",
                10 => "Ki",
                20 => "Mi",
                30 => "Gi",
                40 => "Ti",
                50 => "Pi",
                _ => "Ei",
            };
            return format!("{n}{unit}");
        }
        // `AsCanonicalBytes`: no trailing zeros, then the exponent down to a
        // multiple of three.
        let (mut mantissa, mut exponent) = (self.mantissa, self.scale);
        while mantissa % 10 == 0 {
            mantissa /= 10;
            exponent += 1;
        }
        match exponent.rem_euclid(3) {
            1 => {
                mantissa *= 10;
                exponent -= 1;
            }
            2 => {
                mantissa *= 100;
                exponent -= 2;
            }
            _ => {}
        }
        let unit = match (format, exponent) {
            (_, 0) => String::new(),
            (Format::DecimalSi, -9) => "n".into(),
            (Format::DecimalSi, -6) => "u".into(),
            (Format::DecimalSi, -3) => "m".into(),
            (Format::DecimalSi, 3) => "k".into(),
            (Format::DecimalSi, 6) => "M".into(),
            (Format::DecimalSi, 9) => "G".into(),
            (Format::DecimalSi, 12) => "T".into(),
            (Format::DecimalSi, 15) => "P".into(),
            (Format::DecimalSi, 18) => "E".into(),
            (_, e) => format!("e{e}"),
        };
        format!("{mantissa}{unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(text: &str) -> String {
        parse(text)
            .map(|q| q.canonical())
            .unwrap_or_else(|e| e.to_string())
    }

    /// Cases from apimachinery's `quantity_test.go` table of canonical forms.
    #[test]
    fn canonical_forms_are_apimachinerys() {
        for (given, stored) in [
            ("0", "0"),
            ("0.5", "500m"),
            ("100m", "100m"),
            ("1000m", "1"),
            ("1500", "1500"),
            ("2000", "2k"),
            ("1.5", "1500m"),
            ("1024Mi", "1Gi"),
            ("1536Mi", "1536Mi"),
            ("1Gi", "1Gi"),
            ("0.5Gi", "512Mi"),
            ("1.5Ki", "1536"),
            ("512", "512"),
            ("1Ki", "1Ki"),
            ("128974848", "128974848"),
            ("129e6", "129e6"),
            ("129M", "129M"),
            ("123Mi", "123Mi"),
            ("1e3", "1e3"),
            ("1E3", "1e3"),
            ("0.1m", "100u"),
            ("1n", "1n"),
            ("0.0000000001", "1n"),
            ("-100m", "-100m"),
            ("+1", "1"),
            ("05", "5"),
        ] {
            assert_eq!(canonical(given), stored, "{given}");
        }
    }

    #[test]
    fn what_parse_quantity_refuses() {
        assert_eq!(parse("").unwrap_err(), FORMAT_WRONG);
        assert_eq!(parse("1Gb").unwrap_err(), FORMAT_WRONG);
        assert_eq!(parse("1Gm").unwrap_err(), SUFFIX);
        assert_eq!(parse("1 Gi").unwrap_err(), FORMAT_WRONG);
        assert_eq!(parse("abc").unwrap_err(), FORMAT_WRONG);
        assert_eq!(parse("1.5.5").unwrap_err(), FORMAT_WRONG);
    }

    #[test]
    fn quantities_compare_by_value_across_suffixes() {
        let q = |t| parse(t).unwrap();
        assert_eq!(q("500m").cmp(&q("0.5")), Ordering::Equal);
        assert_eq!(q("1").cmp(&q("999m")), Ordering::Greater);
        assert_eq!(q("1Gi").cmp(&q("1G")), Ordering::Greater);
        assert_eq!(q("128Mi").cmp(&q("256Mi")), Ordering::Less);
        assert!(q("-1").is_negative() && !q("0").is_negative());
    }
}
