package etag

import "testing"

func TestNoneMatchHit(t *testing.T) {
	cases := []struct {
		header, tag string
		want        bool
	}{
		{`"a"`, `"a"`, true},
		{`"b", "a"`, `"a"`, true},
		{` "b" ,"a" `, `"a"`, true},
		{`W/"a"`, `"a"`, true},
		{`"a"`, `W/"a"`, true},
		{`W/"a"`, `W/"a"`, true},
		{`*`, `"a"`, true},
		{`"b"`, `"a"`, false},
		{`"a`, `"a"`, false},
		{`a`, `"a"`, false},
		{`"A"`, `"a"`, false},
		{``, `"a"`, false},
		{`*`, ``, false},
		{`""`, ``, false},
	}
	for _, c := range cases {
		t.Run(c.header+" vs "+c.tag, func(t *testing.T) {
			if got := NoneMatchHit(c.header, c.tag); got != c.want {
				t.Errorf("NoneMatchHit(%q, %q) = %v, want %v", c.header, c.tag, got, c.want)
			}
		})
	}
}
