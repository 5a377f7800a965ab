package transfer

import (
	"fmt"
	"slices"
	"testing"
)

func TestPlanSpans(t *testing.T) {
	const k = 1000
	for _, tc := range []struct {
		name    string
		sizes   []int64
		present []int // indexes already stored
		max     int64
		want    [][]int
	}{
		{name: "nothing to fetch", sizes: nil, want: nil},
		{name: "all present", sizes: []int64{k, k}, present: []int{0, 1}, max: 4 * k, want: nil},
		{name: "one span fits", sizes: []int64{k, k, k}, max: 4 * k, want: [][]int{{0, 1, 2}}},
		{name: "exactly full", sizes: []int64{k, k, k, k}, max: 4 * k, want: [][]int{{0, 1, 2, 3}}},
		{name: "split at the byte cap", sizes: []int64{k, k, k, k, k}, max: 2 * k, want: [][]int{{0, 1}, {2, 3}, {4}}},
		{name: "present block ends a span", sizes: []int64{k, k, k, k, k}, present: []int{2}, max: 10 * k, want: [][]int{{0, 1}, {3, 4}}},
		{name: "present runs leave no empty spans", sizes: []int64{k, k, k, k, k}, present: []int{0, 1, 3}, max: 10 * k, want: [][]int{{2}, {4}}},
		{name: "oversized block alone", sizes: []int64{k, 5 * k, k}, max: 2 * k, want: [][]int{{0}, {1}, {2}}},
		{name: "oversized first block", sizes: []int64{5 * k, k, k}, max: 2 * k, want: [][]int{{0}, {1, 2}}},
		{name: "uneven sizes", sizes: []int64{3 * k, k, 2 * k, 2 * k}, max: 4 * k, want: [][]int{{0, 1}, {2, 3}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			present := make([]bool, len(tc.sizes))
			for _, i := range tc.present {
				present[i] = true
			}
			got := planSpans(tc.sizes, present, tc.max)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || len(got) != len(tc.want) {
				t.Fatalf("planSpans = %v, want %v", got, tc.want)
			}
			// Every missing block is in exactly one span, in order.
			var flat []int
			for _, sp := range got {
				flat = append(flat, sp...)
			}
			var missing []int
			for i := range tc.sizes {
				if !present[i] {
					missing = append(missing, i)
				}
			}
			if !slices.Equal(flat, missing) {
				t.Fatalf("spans cover %v, want the missing blocks %v", flat, missing)
			}
		})
	}
}

func TestNewListDedupes(t *testing.T) {
	a, b := testCID(t, "a"), testCID(t, "b")
	l := newList([]blockRef{{c: a, size: 1}, {c: b, size: 2}, {c: a, size: 1}})
	if len(l.refs) != 2 || len(l.state) != 2 {
		t.Fatalf("newList kept %d refs, %d states; want 2 each", len(l.refs), len(l.state))
	}
	if l.index[string(a.Hash())] != 0 || l.index[string(b.Hash())] != 1 {
		t.Fatalf("index %v: want a first, b second", l.index)
	}
}
