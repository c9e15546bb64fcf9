//! Every person has one NHS number: valid by the modulus 11 check, unique, and in the range reserved for testing.

use crate::fixture::population;
use care::nhs_number::NhsNumber;
use std::collections::HashSet;

#[test]
fn nhs_numbers_are_valid_unique_and_for_testing() {
    let population = population();
    let mut seen = HashSet::new();
    for person in &population.people {
        assert_eq!(person.nhs_numbers.len(), 1, "each person has exactly one NHS number");
        let text = &person.nhs_numbers[0];
        let number = NhsNumber::parse(text).unwrap_or_else(|error| panic!("{text}: {error}"));
        assert!(number.is_test_range(), "{text} is not in the 999 test range");
        assert!(seen.insert(number), "{text} is used twice");
    }
    assert_eq!(population.summary.without_nhs_number, 0);
}
