//! "Did you mean ...?": the known word closest to a misspelt one (edit distance with transpositions).

/// The candidate closest to `word`, if it is close enough to be a typo of it.
///
/// Case and `-`/`_` differences count as a match (`Retry-Policy` → `retry_policy`).
/// Otherwise the edit distance may be at most a third of the longer word's length
/// (at least 1, at most 3), so short words need near-exact spelling and unrelated
/// words are never suggested.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let norm = normalize(word);
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        if candidate == word {
            continue;
        }
        let distance = if normalize(candidate) == norm {
            0
        } else {
            edit_distance(&norm, &normalize(candidate))
        };
        let longest = norm.chars().count().max(candidate.chars().count());
        let allowed = (longest / 3).clamp(1, 3);
        if distance <= allowed && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

fn normalize(word: &str) -> String {
    word.chars()
        .map(|c| {
            if c == '-' {
                '_'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// The number of single-character insertions, deletions, substitutions and swaps of
/// two neighbours between `a` and `b` (Levenshtein with transpositions, the "optimal
/// string alignment" distance): `modle` is one edit from `model`, as a typist sees it.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows: two back (for swaps), previous, current.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (previous[j - 1] + cost)
                .min(previous[j] + 1)
                .min(current[j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            current[j] = d;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("retry_polcy", "retry_policy"), 1);
        assert_eq!(edit_distance("modle", "model"), 1);
        assert_eq!(edit_distance("ab", "ba"), 1);
    }

    #[test]
    fn suggests_typos_but_not_unrelated_words() {
        let known = ["retry_policy", "retry_after", "num_retries", "timeout"];
        assert_eq!(closest("retry_polcy", known), Some("retry_policy"));
        assert_eq!(closest("Retry-Policy", known), Some("retry_policy"));
        assert_eq!(closest("num_retry", known), Some("num_retries"));
        assert_eq!(closest("timout", known), Some("timeout"));
        assert_eq!(closest("modle", ["model", "api_base"]), Some("model"));
        assert_eq!(closest("database_url", known), None);
        assert_eq!(closest("x", known), None);
    }
}
