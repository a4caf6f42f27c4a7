// Package suggest finds the name a typo most likely meant, for "did you
// mean" hints in error messages: config keys, template helpers, event keys.
package suggest

import "strings"

// Nearest returns the name in known nearest to name, ignoring case: one
// equal but for case, else the first at the smallest edit distance below
// len(name)/2+2, else "".
func Nearest(name string, known []string) string {
	best, bestD := "", len(name)/2+2
	lower := strings.ToLower(name)
	for _, k := range known {
		if strings.ToLower(k) == lower {
			return k
		}
		if d := Distance(lower, strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// Distance is the Levenshtein distance between a and b, in runes: the
// fewest insertions, deletions and substitutions that turn one into the
// other.
func Distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
