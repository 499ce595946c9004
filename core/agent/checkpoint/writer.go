package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"agora/core/mesos"
)

// Op is one checkpoint write, made by FrameworkOp, TaskOp, ContainerOp,
// UpdatesOp, CompletedOp or RemoveTaskOp and applied by Store.Submit. An
// Op made from a bad id or an unencodable record carries that error to its
// commit.
type Op struct {
	kind     opKind
	fid, tid string
	data     []byte
	err      error
}

type opKind int

const (
	opFramework opKind = iota + 1
	opTask
	opContainer
	opUpdates
	opCompleted
	opRemoveTask
)

// FrameworkOp records a framework's info.
func FrameworkOp(info mesos.FrameworkInfo) Op {
	if info.ID == nil {
		return Op{err: errors.New("checkpoint: framework.id is missing")}
	}
	return encodeOp(opFramework, info.ID.Value, "", info)
}

// TaskOp starts a task's records afresh with what is about to launch: the
// records of an earlier task by that id are removed first.
func TaskOp(fid, tid string, t Task) Op { return encodeOp(opTask, fid, tid, t) }

// ContainerOp records the containerizer's checkpoint of a launched task.
func ContainerOp(fid, tid string, cp []byte) Op {
	op := Op{kind: opContainer, fid: fid, tid: tid, data: append([]byte(nil), cp...)}
	op.err = checkIDs(fid, tid)
	return op
}

// UpdatesOp records a task's state and unacknowledged updates.
func UpdatesOp(fid, tid string, u Updates) Op {
	op := encodeOp(opUpdates, fid, tid, u)
	if op.err == nil {
		op.data = encodeRecord(op.data)
	}
	return op
}

// CompletedOp marks a task as done with at at.
func CompletedOp(fid, tid string, at time.Time) Op {
	return encodeOp(opCompleted, fid, tid, completed{At: at})
}

// RemoveTaskOp deletes a task's records, and its framework's once no task
// is left.
func RemoveTaskOp(fid, tid string) Op {
	return Op{kind: opRemoveTask, fid: fid, tid: tid, err: checkIDs(fid, tid)}
}

func encodeOp(kind opKind, fid, tid string, v any) Op {
	op := Op{kind: kind, fid: fid, tid: tid}
	if kind == opFramework {
		op.err = checkName("framework.id", fid)
	} else {
		op.err = checkIDs(fid, tid)
	}
	if op.err != nil {
		return op
	}
	b, err := json.Marshal(v)
	if err != nil {
		op.err = fmt.Errorf("checkpoint: encode %s of task %q: %w", kindName[kind], tid, err)
	}
	op.data = b
	return op
}

var kindName = map[opKind]string{
	opFramework: frameworkFile, opTask: taskFile, opContainer: containerFile,
	opUpdates: updatesLog, opCompleted: completedFile, opRemoveTask: "removal",
}

func checkIDs(fid, tid string) error {
	if err := checkName("framework.id", fid); err != nil {
		return err
	}
	return checkName("task.task_id", tid)
}

// Commit is a group of writes submitted together. Its writes are applied
// after every write submitted before them and are on disk once Done is
// closed.
type Commit struct {
	seq  uint64
	ops  []Op
	done chan struct{}
	err  error // the first failed write's error; set before done closes
}

// Seq is the commit's sequence number: commits are applied, and become
// durable, in this order (see Store.Durable).
func (c *Commit) Seq() uint64 { return c.seq }

// Done is closed when the commit's writes are on disk or have failed.
func (c *Commit) Done() <-chan struct{} { return c.done }

// Wait blocks until Done and returns the first failed write's error.
func (c *Commit) Wait() error {
	<-c.done
	return c.err
}

func (c *Commit) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

// Submit queues ops to be written, in order, after everything submitted
// before, and returns at once: the returned commit tells when they are on
// disk. Submit with no ops is a barrier: its commit is done once every
// earlier one is.
func (s *Store) Submit(ops ...Op) *Commit {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(ops) == 0 && len(s.queue) == 0 && !s.writing {
		c := &Commit{seq: s.last, done: make(chan struct{})}
		close(c.done)
		return c
	}
	s.last++
	c := &Commit{seq: s.last, ops: ops, done: make(chan struct{})}
	s.queue = append(s.queue, c)
	if !s.writing {
		s.writing = true
		go s.writeLoop()
	}
	return c
}

// Flush waits until everything submitted so far is on disk (or failed).
func (s *Store) Flush() { s.Submit().Wait() }

// Durable is the sequence number up to which every commit is done: its
// writes on disk, or failed and reported to Options.OnError.
func (s *Store) Durable() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.durable
}

// Changed returns a channel closed when Durable next advances. Take it
// before reading Durable so that no advance is missed.
func (s *Store) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// writeLoop applies batches of queued commits until the queue is empty;
// the next Submit starts it again. Whatever queues up while a batch is on
// its way to the disk forms the next batch.
func (s *Store) writeLoop() {
	for {
		s.mu.Lock()
		batch := s.queue
		s.queue = nil
		if len(batch) == 0 {
			s.writing = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()

		s.apply(batch)

		s.mu.Lock()
		s.durable = batch[len(batch)-1].seq
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
		for _, c := range batch {
			if c.err != nil {
				s.onError(c.err)
			}
			close(c.done)
		}
	}
}

// batch is the writer's plan for one group of commits. Files and
// directories are opened, written and renamed in submission order, so the
// file tree ends as if each op ran alone; only the fsyncs are gathered:
//
//  1. every replacement's temporary file is fsynced, all at once (a batch
//     without replacements, the usual one, skips this round);
//  2. each temporary is renamed over its record, in order;
//  3. every file written in place (a record created, a log appended to)
//     and every directory that gained an entry is fsynced, all at once.
//
// A record that does not exist yet is written in place, with no temporary
// and rename: there is no old version to keep, and its fsync then shares
// round 3 with its directory's. A crash before the batch is done may leave
// such a record torn, which Load reports as corrupt (or, for a log, as
// never written); since no commit of the batch was done, nobody acted on
// it: no container was launched on a torn task.json, no update sent on a
// torn log record. A record being replaced is either old or new. A rename
// only changes a directory entry, durable once the directory is fsynced,
// so replacements keep their directory's fsync even though the name
// existed; an append changes no directory and needs none.
type batch struct {
	s *Store
	// replaced are whole-file writes awaiting their rename, by record path,
	// in submission order.
	replaced map[string]*pendingFile
	order    []string
	// written are the files written in place, by path.
	written map[string]*pendingFile
	// dirs are the directories to fsync, with the commits that need them.
	dirs map[string][]*Commit
}

type pendingFile struct {
	f       *os.File
	commits []*Commit
}

func (s *Store) apply(commits []*Commit) {
	b := &batch{s: s, replaced: map[string]*pendingFile{}, written: map[string]*pendingFile{}, dirs: map[string][]*Commit{}}
	for _, c := range commits {
		for _, op := range c.ops {
			if op.err != nil {
				c.fail(op.err)
				continue
			}
			if err := b.stage(c, op); err != nil {
				c.fail(err)
			}
		}
	}

	// 1: the contents of replacements.
	var jobs []syncJob
	for _, path := range b.order {
		jobs = append(jobs, syncJob{f: b.replaced[path].f, name: tmpName(path)})
	}
	errs := s.syncAll(jobs)
	// 2: renames, of the contents that made it to disk.
	for i, path := range b.order {
		p := b.replaced[path]
		err := errs[i]
		if cerr := p.f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmpName(path), path)
		}
		if err != nil {
			os.Remove(tmpName(path))
			failAll(p.commits, fmt.Errorf("checkpoint: write %s: %w", path, err))
			if filepath.Base(path) == updatesLog {
				delete(s.logs, path) // its length is unknown again
			}
			continue
		}
		b.needDir(filepath.Dir(path), p.commits...)
	}
	// 3: files written in place, and directories.
	jobs = jobs[:0]
	var owners [][]*Commit
	for path, p := range b.written {
		jobs = append(jobs, syncJob{f: p.f, name: path})
		owners = append(owners, p.commits)
	}
	for dir, cs := range b.dirs {
		jobs = append(jobs, syncJob{dir: dir, name: dir})
		owners = append(owners, cs)
	}
	for i, err := range s.syncAll(jobs) {
		if err != nil {
			failAll(owners[i], fmt.Errorf("checkpoint: sync %s: %w", jobs[i].name, err))
		}
	}
	for path, p := range b.written {
		if err := p.f.Close(); err != nil {
			failAll(p.commits, fmt.Errorf("checkpoint: write %s: %w", path, err))
		}
	}
}

// stage performs one op's file system changes, short of the fsyncs.
func (b *batch) stage(c *Commit, op Op) error {
	s := b.s
	switch op.kind {
	case opFramework:
		dir := s.frameworkDir(op.fid)
		if err := b.mkdirs(dir, c); err != nil {
			return err
		}
		return b.put(filepath.Join(dir, frameworkFile), op.data, c)
	case opTask:
		dir := s.TaskDir(op.fid, op.tid)
		if err := b.removeAll(dir); err != nil {
			return err
		}
		if err := b.mkdirs(dir, c); err != nil {
			return err
		}
		return b.put(filepath.Join(dir, taskFile), op.data, c)
	case opContainer:
		return b.put(filepath.Join(s.TaskDir(op.fid, op.tid), containerFile), op.data, c)
	case opCompleted:
		// A completed task's log is done with: stop tracking it.
		delete(s.logs, filepath.Join(s.TaskDir(op.fid, op.tid), updatesLog))
		return b.put(filepath.Join(s.TaskDir(op.fid, op.tid), completedFile), op.data, c)
	case opUpdates:
		return b.appendLog(filepath.Join(s.TaskDir(op.fid, op.tid), updatesLog), op.data, c)
	case opRemoveTask:
		if err := b.removeAll(s.TaskDir(op.fid, op.tid)); err != nil {
			return err
		}
		tasks := filepath.Join(s.frameworkDir(op.fid), "tasks")
		if entries, err := os.ReadDir(tasks); err == nil && len(entries) == 0 {
			return b.removeAll(s.frameworkDir(op.fid))
		}
		return nil
	}
	return fmt.Errorf("checkpoint: unknown op %d", op.kind)
}

// put writes a whole record: in place if it does not exist yet, else by
// replacement.
func (b *batch) put(file string, data []byte, c *Commit) error {
	if b.replaced[file] != nil || b.written[file] != nil {
		return b.replace(file, data, c)
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
	if errors.Is(err, fs.ErrExist) {
		return b.replace(file, data, c)
	}
	if err == nil {
		if _, err = f.Write(data); err != nil {
			f.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("checkpoint: write %s: %w", file, err)
	}
	b.written[file] = &pendingFile{f: f, commits: []*Commit{c}}
	b.needDir(filepath.Dir(file), c)
	return nil
}

// replace writes file's temporary twin; the rename follows its fsync. A
// later write of a file already written in the batch takes over the
// earlier one's commits: the record ends as the last write left it.
func (b *batch) replace(file string, data []byte, c *Commit) error {
	f, err := os.OpenFile(tmpName(file), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fileMode)
	if err == nil {
		if _, err = f.Write(data); err != nil {
			f.Close()
		}
	}
	var earlier []*Commit
	if old := b.written[file]; old != nil {
		old.f.Close()
		delete(b.written, file)
		earlier = old.commits
	}
	if old := b.replaced[file]; old != nil {
		old.f.Close()
		earlier = append(earlier, old.commits...)
	} else if err == nil {
		b.order = append(b.order, file)
	}
	if err != nil {
		delete(b.replaced, file)
		b.dropOrder(file)
		err = fmt.Errorf("checkpoint: write %s: %w", file, err)
		failAll(earlier, err)
		return err
	}
	b.replaced[file] = &pendingFile{f: f, commits: append(earlier, c)}
	// A log rewritten whole is as long as its one record.
	if filepath.Base(file) == updatesLog {
		b.s.logs[file] = int64(len(data))
	}
	return nil
}

func (b *batch) dropOrder(file string) {
	for i, p := range b.order {
		if p == file {
			b.order = append(b.order[:i], b.order[i+1:]...)
			return
		}
	}
}

// appendLog appends one framed record to a task's updates log. The first
// append of this Store to a log cuts off what a crash may have left torn
// at its end; a log grown past maxLogSize, or already being rewritten in
// this batch, is rewritten whole instead.
func (b *batch) appendLog(file string, rec []byte, c *Commit) error {
	s := b.s
	size, known := s.logs[file]
	if b.replaced[file] != nil || known && size+int64(len(rec)) > maxLogSize {
		return b.replace(file, rec, c)
	}
	p := b.written[file]
	if p == nil {
		f, created, err := openLog(file)
		if err != nil {
			delete(s.logs, file)
			return fmt.Errorf("checkpoint: write %s: %w", file, err)
		}
		switch {
		case created:
			size = 0
			b.needDir(filepath.Dir(file), c)
		case !known:
			if size, err = intactLength(f); err != nil {
				f.Close()
				return fmt.Errorf("checkpoint: write %s: %w", file, err)
			}
		}
		p = &pendingFile{f: f}
		b.written[file] = p
	}
	p.commits = append(p.commits, c)
	if _, err := p.f.WriteAt(rec, size); err != nil {
		// Unknown length now: the next append checks the log again.
		delete(s.logs, file)
		return fmt.Errorf("checkpoint: write %s: %w", file, err)
	}
	s.logs[file] = size + int64(len(rec))
	return nil
}

// openLog opens a log for writing, creating it if need be.
func openLog(file string) (f *os.File, created bool, err error) {
	f, err = os.OpenFile(file, os.O_RDWR, 0)
	if !errors.Is(err, fs.ErrNotExist) {
		return f, false, err
	}
	f, err = os.OpenFile(file, os.O_RDWR|os.O_CREATE|os.O_EXCL, fileMode)
	return f, err == nil, err
}

// intactLength reads a log and cuts off a torn end.
func intactLength(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	buf := make([]byte, st.Size())
	if _, err := f.ReadAt(buf, 0); err != nil && len(buf) > 0 {
		return 0, err
	}
	_, intact, _ := lastRecord(buf)
	if int64(intact) < st.Size() {
		if err := f.Truncate(int64(intact)); err != nil {
			return 0, err
		}
	}
	return int64(intact), nil
}

// mkdirs creates dir and its missing parents; each new directory's parent
// is fsynced with the batch.
func (b *batch) mkdirs(dir string, c *Commit) error {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) || d == filepath.Dir(d) {
			return fmt.Errorf("checkpoint: %w", err)
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], dirMode); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("checkpoint: %w", err)
		}
		b.needDir(filepath.Dir(missing[i]), c)
	}
	return nil
}

// removeAll deletes dir and drops the batch's pending work under it: those
// writes are superseded by the removal, as if they had run first.
func (b *batch) removeAll(dir string) error {
	under := func(p string) bool { return strings.HasPrefix(p, dir+string(filepath.Separator)) || p == dir }
	order := b.order[:0]
	for _, path := range b.order {
		if under(path) {
			b.replaced[path].f.Close()
			delete(b.replaced, path)
		} else {
			order = append(order, path)
		}
	}
	b.order = order
	for path, p := range b.written {
		if under(path) {
			p.f.Close()
			delete(b.written, path)
		}
	}
	for d := range b.dirs {
		if under(d) {
			delete(b.dirs, d)
		}
	}
	for path := range b.s.logs {
		if under(path) {
			delete(b.s.logs, path)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

func (b *batch) needDir(dir string, cs ...*Commit) {
	b.dirs[dir] = append(b.dirs[dir], cs...)
}

// syncJob is one fsync: of an open file, or of a directory by name.
type syncJob struct {
	f    *os.File
	dir  string
	name string
}

// syncWorkers bounds the fsyncs in flight. Concurrent fsyncs on one file
// system share journal commits and device flushes, so a batch of a
// hundred costs little more than one; each in flight holds a thread.
const syncWorkers = 32

// syncAll runs jobs concurrently and returns their errors, by index.
func (s *Store) syncAll(jobs []syncJob) []error {
	errs := make([]error, len(jobs))
	if len(jobs) == 0 {
		return errs
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(syncWorkers, len(jobs)) {
		wg.Go(func() {
			for i := range next {
				errs[i] = s.syncOne(jobs[i])
			}
		})
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	return errs
}

func (s *Store) syncOne(j syncJob) error {
	if j.f != nil {
		return s.sync(j.f)
	}
	d, err := os.Open(j.dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return s.sync(d)
}

func failAll(cs []*Commit, err error) {
	for _, c := range cs {
		c.fail(err)
	}
}
