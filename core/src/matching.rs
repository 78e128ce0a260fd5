//! One-to-one matching of two sets by greedy closest pairs: the rule shared by the
//! ground-truth evaluation, the comparison with a reference map, and the matching of
//! a week's features to the known ones.
//!
//! Greedy rather than optimal (Hungarian) matching: street features of one class are
//! metres apart while the match radius is a few metres, so the two rarely differ, and
//! greedy is what a person checking a map by eye does (the closest pair first).

/// A candidate pair: the distance between them, an index on the left side and an
/// index on the right side.
pub type Candidate = (f64, usize, usize);

/// Matches candidates closest first, each left and each right index at most once.
///
/// Candidates are taken in the order of their distance (by [`f64::total_cmp`], so a
/// NaN distance comes after every number), equal distances by the lower left index,
/// then the lower right index: the result does not depend on the order of
/// `candidates`. A candidate is taken when neither of its sides is used yet; taking it
/// marks both in `left_used` and `right_used`, which may come in partly marked (an
/// earlier matching step) and must be long enough for every index (it panics
/// otherwise). Returns the pairs taken, in the order they were taken.
pub fn greedy_closest_pairs(
    mut candidates: Vec<Candidate>,
    left_used: &mut [bool],
    right_used: &mut [bool],
) -> Vec<Candidate> {
    candidates.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut out = Vec::new();
    for (d, i, j) in candidates {
        if !left_used[i] && !right_used[j] {
            left_used[i] = true;
            right_used[j] = true;
            out.push((d, i, j));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_closest_pair_is_taken_first_and_each_side_only_once() {
        // Left 0 is closest to right 0; left 1 then gets right 1 although it is
        // closer to right 0.
        let candidates = vec![(2.0, 1, 0), (1.0, 0, 0), (3.0, 1, 1), (5.0, 0, 1)];
        let (mut l, mut r) = (vec![false; 2], vec![false; 2]);
        let got = greedy_closest_pairs(candidates, &mut l, &mut r);
        assert_eq!(got, vec![(1.0, 0, 0), (3.0, 1, 1)]);
        assert_eq!((l, r), (vec![true, true], vec![true, true]));
    }

    #[test]
    fn equal_distances_go_to_the_lower_left_index_then_the_lower_right_index() {
        let candidates = vec![(1.0, 1, 0), (1.0, 0, 1), (1.0, 0, 0), (1.0, 1, 1)];
        let (mut l, mut r) = (vec![false; 2], vec![false; 2]);
        let got = greedy_closest_pairs(candidates.clone(), &mut l, &mut r);
        assert_eq!(got, vec![(1.0, 0, 0), (1.0, 1, 1)]);
        // Any input order gives the same pairs.
        let mut reversed = candidates;
        reversed.reverse();
        let (mut l, mut r) = (vec![false; 2], vec![false; 2]);
        assert_eq!(greedy_closest_pairs(reversed, &mut l, &mut r), got);
    }

    #[test]
    fn sides_already_used_by_an_earlier_step_are_left_alone() {
        let (mut l, mut r) = (vec![true, false], vec![false, false]);
        let got = greedy_closest_pairs(vec![(1.0, 0, 0), (2.0, 1, 0)], &mut l, &mut r);
        assert_eq!(got, vec![(2.0, 1, 0)]);
    }
}
