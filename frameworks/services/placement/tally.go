package placement

// counter counts instances per interned field value and keeps the number
// of used values and the smallest non-zero count up to date in O(1) per
// added instance, so GROUP_BY need not scan every value on every check.
type counter struct {
	counts []int // instances per value id
	hist   []int // hist[c]: values with exactly c instances, c >= 1
	total  int
	groups int
	min    int
	some   int // id of the first value given an instance, -1 if none
}

func (c *counter) init(values int) {
	c.counts = make([]int, values)
	c.hist = make([]int, 2)
	c.some = -1
}

// grow makes room for value ids below n.
func (c *counter) grow(n int) {
	for len(c.counts) < n {
		c.counts = append(c.counts, 0)
	}
}

func (c *counter) add(id int) {
	old := c.counts[id]
	c.counts[id] = old + 1
	c.total++
	if old+1 >= len(c.hist) {
		c.hist = append(c.hist, make([]int, len(c.hist))...)
	}
	c.hist[old+1]++
	if old == 0 {
		c.groups++
		c.min = 1
		if c.some < 0 {
			c.some = id
		}
		return
	}
	c.hist[old]--
	if old == c.min && c.hist[old] == 0 {
		c.min = old + 1
	}
}
