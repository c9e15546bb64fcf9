//! NHS numbers for generated people: distinct valid numbers from the range reserved for testing (999 000 0000 to 999 999 9999), shuffled by the seed.

use crate::random::Random;
use care::nhs_number::NhsNumber;

const FIRST_TEST_BASE: u32 = 999_000_000;
const LAST_TEST_BASE: u32 = 999_999_999;

/// Hands out the test-range NHS numbers: person `i` gets the `(a·i + b) mod n`-th valid number,
/// a permutation of the `n` valid numbers chosen by the seed, so numbers are distinct, do not
/// follow person order, and need no shared state between threads.
pub(crate) struct NhsNumbers {
    bases: Vec<u32>,
    multiplier: u64,
    offset: u64,
}

impl NhsNumbers {
    pub fn new(random: &mut Random) -> NhsNumbers {
        let bases: Vec<u32> = (FIRST_TEST_BASE..=LAST_TEST_BASE).filter(|base| NhsNumber::from_base(*base).is_some()).collect();
        let n = bases.len() as u64;
        let multiplier = loop {
            let candidate = 1 + random.below(n - 1);
            if gcd(candidate, n) == 1 {
                break candidate;
            }
        };
        let offset = random.below(n);
        NhsNumbers { bases, multiplier, offset }
    }

    /// How many people can be numbered: the valid numbers in the test range (909,091).
    pub fn capacity(&self) -> u64 {
        self.bases.len() as u64
    }

    /// The number of person `index`, or `None` once the test range is used up.
    pub fn for_person(&self, index: u64) -> Option<NhsNumber> {
        let n = self.capacity();
        if index >= n {
            return None;
        }
        let position = ((u128::from(self.multiplier) * u128::from(index) + u128::from(self.offset)) % u128::from(n)) as usize;
        NhsNumber::from_base(self.bases[position])
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_test_range_holds_909091_numbers_and_then_runs_out() {
        let numbers = NhsNumbers::new(&mut Random::stream(1, 0));
        assert_eq!(numbers.capacity(), 909_091);
        assert!(numbers.for_person(909_090).is_some());
        assert_eq!(numbers.for_person(909_091), None);
    }

    #[test]
    fn numbers_are_distinct_and_shuffled() {
        let numbers = NhsNumbers::new(&mut Random::stream(1, 0));
        let first: Vec<NhsNumber> = (0..50_000).filter_map(|index| numbers.for_person(index)).collect();
        assert_eq!(first.len(), 50_000);
        assert_eq!(first.iter().collect::<HashSet<_>>().len(), 50_000);
        assert!(first.windows(2).filter(|pair| pair[0] < pair[1]).count() < 40_000, "numbers should not follow person order");
        let tail: HashSet<NhsNumber> = (859_091..909_091).filter_map(|index| numbers.for_person(index)).collect();
        assert!(first.iter().all(|number| !tail.contains(number)));
    }
}
