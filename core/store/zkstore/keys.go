package zkstore

import (
	"strings"
)

// Znode naming (see the package comment): a key's last element is a leaf
// znode; every element above it is a directory znode named dirMark+element.
// An element that starts with dirMark or escMark is escaped, so leaf names
// never start with dirMark and names starting with escMark that are not an
// escape are free for the store's own znodes (logName).
const (
	dirMark = "+"
	escMark = "%"
	escDir  = "%2B" // an element starting with "+"
	escEsc  = "%25" // an element starting with "%"
	logName = "%log"
)

func escape(elem string) string {
	switch {
	case strings.HasPrefix(elem, dirMark):
		return escDir + elem[len(dirMark):]
	case strings.HasPrefix(elem, escMark):
		return escEsc + elem[len(escMark):]
	}
	return elem
}

// unescapeLeaf turns a leaf znode name back into a key element; ok is false
// for names that are not keys (directories and the store's own znodes).
func unescapeLeaf(name string) (elem string, ok bool) {
	switch {
	case strings.HasPrefix(name, dirMark):
		return "", false
	case strings.HasPrefix(name, escDir):
		return dirMark + name[len(escDir):], true
	case strings.HasPrefix(name, escEsc):
		return escMark + name[len(escEsc):], true
	case strings.HasPrefix(name, escMark):
		return "", false
	}
	return name, true
}

// unescapeDir turns a directory znode name back into a key element.
func unescapeDir(name string) (elem string, ok bool) {
	if !strings.HasPrefix(name, dirMark) {
		return "", false
	}
	return unescapeLeaf(name[len(dirMark):])
}

// layout maps keys to znode paths under one root.
type layout struct{ root string }

// leaf is the znode holding key (a valid key).
func (l layout) leaf(key string) string {
	parts := strings.Split(key[1:], "/")
	var b strings.Builder
	b.Grow(len(l.root) + len(key) + len(parts))
	b.WriteString(l.root)
	for i, p := range parts {
		b.WriteByte('/')
		if i < len(parts)-1 {
			b.WriteString(dirMark)
		}
		b.WriteString(escape(p))
	}
	return b.String()
}

// dir is the directory znode holding the keys under prefix (a valid prefix).
func (l layout) dir(prefix string) string {
	if prefix == "/" {
		return l.root
	}
	var b strings.Builder
	b.WriteString(l.root)
	for _, p := range strings.Split(prefix[1:], "/") {
		b.WriteByte('/')
		b.WriteString(dirMark)
		b.WriteString(escape(p))
	}
	return b.String()
}

// parents lists the directory znodes a key's leaf needs, outermost first.
func (l layout) parents(key string) []string {
	parts := strings.Split(key[1:], "/")
	var out []string
	path := l.root
	for _, p := range parts[:len(parts)-1] {
		path += "/" + dirMark + escape(p)
		out = append(out, path)
	}
	return out
}

func (l layout) log() string { return l.root + "/" + logName }
