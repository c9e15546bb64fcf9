//! NHS number parsing, check digits and the test range, with hand-computed vectors and properties.

use care::nhs_number::{InvalidNhsNumber, NhsNumber, NHS_NUMBER_SYSTEM};
use proptest::prelude::*;

// Each check digit below is worked by hand: the first nine digits are weighted 10, 9, … 2,
// the sum is taken modulo 11, and the check digit is 11 minus the remainder (11 is written 0,
// 10 means no number exists).

#[test]
fn accepts_known_valid_numbers() {
    // 943 476 5919: 9·10 + 4·9 + 3·8 + 4·7 + 7·6 + 6·5 + 5·4 + 9·3 + 1·2 = 299; 299 mod 11 = 2; 11 − 2 = 9.
    let number = NhsNumber::parse("9434765919").expect("valid");
    assert_eq!(number.as_str(), "9434765919");
    assert!(!number.is_test_range());
    // 999 000 001 8: 9·10 + 9·9 + 9·8 + 1·2 = 245; 245 mod 11 = 3; 11 − 3 = 8.
    assert_eq!(NhsNumber::parse("9990000018").expect("valid").as_str(), "9990000018");
    // 999 000 002 6: 243 + 2·2 = 247; 247 mod 11 = 5; 11 − 5 = 6.
    assert_eq!(NhsNumber::parse("9990000026").expect("valid").as_str(), "9990000026");
    // 999 123 457 8: 243 + 1·7 + 2·6 + 3·5 + 4·4 + 5·3 + 7·2 = 322; 322 mod 11 = 3; 11 − 3 = 8.
    assert_eq!(NhsNumber::parse("9991234578").expect("valid").as_str(), "9991234578");
    // 999 000 005 0: 243 + 5·2 = 253 = 11·23; remainder 0; 11 − 0 = 11, written 0.
    assert_eq!(NhsNumber::parse("9990000050").expect("valid").as_str(), "9990000050");
}

#[test]
fn accepts_three_three_four_spacing_and_prints_plain() {
    let number = NhsNumber::parse("943 476 5919").expect("valid");
    assert_eq!(number.to_string(), "9434765919");
    assert_eq!(number, NhsNumber::parse("9434765919").expect("valid"));
    assert_eq!("999 000 0018".parse::<NhsNumber>().expect("valid").as_str(), "9990000018");
}

#[test]
fn rejects_bad_formats() {
    for text in [
        "",
        "943476591",            // nine digits
        "94347659190",          // eleven digits
        "943476591X",           // a letter
        "943-476-5919",         // hyphens
        "9434 765 919",         // spaced 4-3-3
        "943  476 5919",        // two spaces
        " 9434765919",          // leading space
        "9434765919 ",          // trailing space
        "９４３４７６５９１９", // full-width digits
    ] {
        assert_eq!(NhsNumber::parse(text), Err(InvalidNhsNumber::Format), "{text:?}");
    }
}

#[test]
fn rejects_wrong_check_digits() {
    assert_eq!(NhsNumber::parse("9434765918"), Err(InvalidNhsNumber::CheckDigit { expected: 9, found: 8 }));
    // The format example often quoted, 987 654 4321, does not pass the check:
    // 9·10 + 8·9 + 7·8 + 6·7 + 5·6 + 4·5 + 4·4 + 3·3 + 2·2 = 339; 339 mod 11 = 9; 11 − 9 = 2, not 1.
    assert_eq!(NhsNumber::parse("987 654 4321"), Err(InvalidNhsNumber::CheckDigit { expected: 2, found: 1 }));
}

#[test]
fn rejects_bases_whose_check_digit_is_ten() {
    // 999 000 000: 9·10 + 9·9 + 9·8 = 243; 243 mod 11 = 1; 11 − 1 = 10: no such number.
    for last in 0..=9 {
        assert_eq!(NhsNumber::parse(&format!("999000000{last}")), Err(InvalidNhsNumber::CheckDigitTen));
    }
    assert_eq!(NhsNumber::from_base(999_000_000), None);
    // 999 123 456: 243 + 7 + 12 + 15 + 16 + 15 + 12 = 320; 320 mod 11 = 1; check 10.
    assert_eq!(NhsNumber::from_base(999_123_456), None);
}

#[test]
fn from_base_computes_the_check_digit() {
    assert_eq!(NhsNumber::from_base(943_476_591).map(|n| n.to_string()), Some("9434765919".to_owned()));
    assert_eq!(NhsNumber::from_base(999_000_001).map(|n| n.to_string()), Some("9990000018".to_owned()));
    assert_eq!(NhsNumber::from_base(999_000_005).map(|n| n.to_string()), Some("9990000050".to_owned()));
    // A base below 100,000,000 is written with leading zeros: 000 000 001 → 1·2 = 2; 11 − 2 = 9.
    assert_eq!(NhsNumber::from_base(1).map(|n| n.to_string()), Some("0000000019".to_owned()));
    assert_eq!(NhsNumber::from_base(1_000_000_000), None);
    assert_eq!(NhsNumber::from_base(u32::MAX), None);
}

#[test]
fn test_range_is_the_999_prefix() {
    assert!(NhsNumber::parse("9990000018").expect("valid").is_test_range());
    assert!(!NhsNumber::parse("9434765919").expect("valid").is_test_range());
}

#[test]
fn debug_output_hides_all_but_the_last_four_digits() {
    let number = NhsNumber::parse("9434765919").expect("valid");
    assert_eq!(format!("{number:?}"), "NhsNumber(******5919)");
}

#[test]
fn identifier_system_is_uk_core() {
    assert_eq!(NHS_NUMBER_SYSTEM, "https://fhir.nhs.uk/Id/nhs-number");
}

#[test]
fn about_one_base_in_eleven_has_no_number() {
    let missing = (999_000_000..999_100_000u32).filter(|base| NhsNumber::from_base(*base).is_none()).count();
    // Exactly the bases whose weighted sum is 1 modulo 11: within 1% of 100,000 / 11.
    assert!((9_000..9_200).contains(&missing), "{missing}");
}

proptest! {
    #[test]
    fn from_base_round_trips_through_parse(base in 0u32..1_000_000_000) {
        if let Some(number) = NhsNumber::from_base(base) {
            let text = number.to_string();
            prop_assert_eq!(&text[..9], format!("{base:09}"));
            let spaced = format!("{} {} {}", &text[..3], &text[3..6], &text[6..]);
            prop_assert_eq!(NhsNumber::parse(&text), Ok(number));
            prop_assert_eq!(NhsNumber::parse(&spaced), Ok(number));
        } else {
            for last in 0..=9 {
                prop_assert_eq!(NhsNumber::parse(&format!("{base:09}{last}")), Err(InvalidNhsNumber::CheckDigitTen));
            }
        }
    }

    #[test]
    fn changing_one_digit_breaks_the_check(base in 0u32..1_000_000_000, position in 0usize..10, delta in 1u8..10) {
        if let Some(number) = NhsNumber::from_base(base) {
            let mut digits: Vec<u8> = number.as_str().bytes().collect();
            digits[position] = b'0' + (digits[position] - b'0' + delta) % 10;
            let text = String::from_utf8(digits).expect("ascii");
            prop_assert!(NhsNumber::parse(&text).is_err());
        }
    }

    #[test]
    fn parse_never_panics(text in "\\PC{0,14}") {
        let _ = NhsNumber::parse(&text);
    }
}
