//! The NHS number: ten digits whose last is a modulus 11 check digit; parsed once at the edge, trusted after.

use std::fmt;

/// The FHIR identifier system for the NHS number (UK Core).
pub const NHS_NUMBER_SYSTEM: &str = "https://fhir.nhs.uk/Id/nhs-number";

/// The first three digits of the range that NHS England reserves for testing; never issued to a person.
const TEST_RANGE_PREFIX: &str = "999";

/// A valid NHS number: ten ASCII digits with a correct modulus 11 check digit.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NhsNumber([u8; 10]);

/// Why a text is not an NHS number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidNhsNumber {
    /// Not ten digits, written either together or spaced 3-3-4.
    #[error("an NHS number is ten digits, written together or spaced 3 3 4")]
    Format,
    /// The first nine digits give a check digit of 10, which no NHS number has.
    #[error("no NHS number starts with these nine digits (their check digit would be 10)")]
    CheckDigitTen,
    /// The last digit is not the check digit of the first nine.
    #[error("the check digit is wrong: expected {expected}, found {found}")]
    CheckDigit { expected: u8, found: u8 },
}

impl NhsNumber {
    /// Parses ten digits, either together (`9434765919`) or spaced 3-3-4 (`943 476 5919`), and checks the check digit.
    pub fn parse(text: &str) -> Result<NhsNumber, InvalidNhsNumber> {
        let bytes = text.as_bytes();
        let mut digits = [0u8; 10];
        match bytes.len() {
            10 => digits.copy_from_slice(bytes),
            12 if bytes[3] == b' ' && bytes[7] == b' ' => {
                digits[..3].copy_from_slice(&bytes[..3]);
                digits[3..6].copy_from_slice(&bytes[4..7]);
                digits[6..].copy_from_slice(&bytes[8..]);
            }
            _ => return Err(InvalidNhsNumber::Format),
        }
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(InvalidNhsNumber::Format);
        }
        let mut base = [0u8; 9];
        for (value, ascii) in base.iter_mut().zip(&digits) {
            *value = ascii - b'0';
        }
        let expected = check_digit(&base).ok_or(InvalidNhsNumber::CheckDigitTen)?;
        let found = digits[9] - b'0';
        if expected != found {
            return Err(InvalidNhsNumber::CheckDigit { expected, found });
        }
        Ok(NhsNumber(digits))
    }

    /// The NHS number whose first nine digits are `base` (below 1,000,000,000, written with leading zeros),
    /// or `None` when `base` has more than nine digits or its check digit would be 10.
    pub fn from_base(base: u32) -> Option<NhsNumber> {
        if base >= 1_000_000_000 {
            return None;
        }
        let mut values = [0u8; 9];
        let mut rest = base;
        for value in values.iter_mut().rev() {
            *value = (rest % 10) as u8;
            rest /= 10;
        }
        let check = check_digit(&values)?;
        let mut digits = [0u8; 10];
        for (ascii, value) in digits.iter_mut().zip(values.iter().chain(std::iter::once(&check))) {
            *ascii = b'0' + value;
        }
        Some(NhsNumber(digits))
    }

    /// The ten digits, without spaces.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("invariant: an NhsNumber holds ten ASCII digits")
    }

    /// Whether the number is in the range reserved for testing (it starts 999), so never a real person's.
    pub fn is_test_range(&self) -> bool {
        self.as_str().starts_with(TEST_RANGE_PREFIX)
    }
}

/// The modulus 11 check digit of nine digit values (each 0-9), or `None` when it would be 10.
///
/// Each digit is weighted 10 down to 2, the sum is taken modulo 11, and the check digit is
/// 11 minus that remainder, with 11 written as 0.
fn check_digit(values: &[u8; 9]) -> Option<u8> {
    let sum: u32 = values.iter().zip((2..=10u32).rev()).map(|(value, weight)| u32::from(*value) * weight).sum();
    match 11 - sum % 11 {
        11 => Some(0),
        10 => None,
        check => Some(check as u8),
    }
}

impl fmt::Display for NhsNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Shows only the last four digits, so that a number printed with `{:?}` (in a log, a panic) names nobody.
impl fmt::Debug for NhsNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NhsNumber(******{})", &self.as_str()[6..])
    }
}

impl std::str::FromStr for NhsNumber {
    type Err = InvalidNhsNumber;

    fn from_str(text: &str) -> Result<NhsNumber, InvalidNhsNumber> {
        NhsNumber::parse(text)
    }
}
