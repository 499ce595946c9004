package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"agora/core/client"
	"agora/core/mesos"
	"agora/core/resources"
)

// defaultMaster is where the CLI looks when neither --master nor
// AGORA_MASTER says otherwise: the address `agora dev` listens on.
const defaultMaster = "http://127.0.0.1:5050"

// cli is what the client verbs take from the outside world. Tests build one
// around a fake master and buffers instead of the process's globals.
type cli struct {
	ctx    context.Context // cancelled on Ctrl-C
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	hc     *http.Client
	poll   time.Duration // how often `task log --follow` looks for new output
}

// withCLI adapts a verb to the command table's signature, wiring it to the
// real terminal, environment and Ctrl-C.
func withCLI(verb func(c *cli, args []string) error) func([]string) error {
	return func(args []string) error {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		return verb(&cli{
			ctx:    ctx,
			stdout: os.Stdout,
			stderr: os.Stderr,
			getenv: os.Getenv,
			hc:     &http.Client{Timeout: 30 * time.Second},
			poll:   500 * time.Millisecond,
		}, args)
	}
}

// verbFlags holds the flags every client verb takes plus the verb's own.
type verbFlags struct {
	fs      *flag.FlagSet
	usage   string // first line of help, e.g. "agora tasks [--all]"
	summary string
	master  string
	json    bool
	// Who the verb is at the master; see login.go for the other sources.
	principal, secretFile, tokenFile, tlsCA string
}

func (c *cli) newFlags(name, usage, summary string) *verbFlags {
	v := &verbFlags{fs: flag.NewFlagSet(name, flag.ContinueOnError), usage: usage, summary: summary}
	// Errors are returned and printed once by main, not by the flag package.
	v.fs.SetOutput(io.Discard)
	v.fs.StringVar(&v.master, "master", c.getenv("AGORA_MASTER"), "master address, host:port or URL (default $AGORA_MASTER, the config file's, or "+defaultMaster+")")
	v.fs.BoolVar(&v.json, "json", false, "print the raw JSON response instead of a table")
	v.fs.StringVar(&v.principal, "principal", "", "principal to authenticate as (default $AGORA_PRINCIPAL or the config file's)")
	v.fs.StringVar(&v.secretFile, "secret_file", "", "file holding the principal's secret (default $AGORA_SECRET or the config file's)")
	v.fs.StringVar(&v.tokenFile, "token_file", "", "file holding a bearer token (default $AGORA_TOKEN)")
	v.fs.StringVar(&v.tlsCA, "tls_ca", "", "PEM CA bundle that verifies an https:// master (default $AGORA_TLS_CA)")
	return v
}

// parse parses flags wherever they appear among args (so `task log T
// --follow` works) and returns the positional arguments. help is true when
// -h was given and the usage has been printed.
func (c *cli) parse(v *verbFlags, args []string) (pos []string, help bool, err error) {
	for {
		err := v.fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(c.stdout, "usage: %s\n\n%s\n\nflags:\n", v.usage, v.summary)
			v.fs.SetOutput(c.stdout)
			v.fs.PrintDefaults()
			v.fs.SetOutput(io.Discard)
			return nil, true, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w (usage: %s)", v.fs.Name(), err, v.usage)
		}
		rest := v.fs.Args()
		if len(rest) == 0 {
			return pos, false, c.authenticate(v)
		}
		// After "--" everything is positional.
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), false, c.authenticate(v)
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// call sends one operator call, returning the decoded and the raw response.
// Errors say which master was asked and what to do about it.
func (c *cli) call(op *client.Operator, typ string) (*mesos.OperatorResponse, []byte, error) {
	raw, err := op.Raw(c.ctx, typ)
	if err != nil {
		return nil, nil, explain(op, err)
	}
	var r mesos.OperatorResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, nil, fmt.Errorf("master at %s: %s: decode response: %w", op.Master(), typ, err)
	}
	return &r, raw, nil
}

func explain(op *client.Operator, err error) error {
	var un *client.UnreachableError
	if errors.As(err, &un) && un.Role == "master" {
		return fmt.Errorf("%s; start one with `agora dev` or set --master", un.Error())
	}
	var api *client.APIError
	if errors.As(err, &api) {
		return fmt.Errorf("master at %s: %w", op.Master(), err)
	}
	return err
}

// printJSON pretty-prints a raw JSON response.
// list runs the common part of a listing verb: parse its flags (no
// positional arguments), make one operator call and, with --json, print the
// raw answer. done means the verb has nothing left to do (help was shown,
// or the JSON printed).
func (c *cli) list(v *verbFlags, args []string, typ string) (resp *mesos.OperatorResponse, op *client.Operator, done bool, err error) {
	pos, help, err := c.parse(v, args)
	if help || err != nil {
		return nil, nil, true, err
	}
	if err := noArgs(v, pos); err != nil {
		return nil, nil, true, err
	}
	op = client.NewOperator(v.master, c.hc)
	resp, raw, err := c.call(op, typ)
	if err != nil {
		return nil, nil, true, err
	}
	if v.json {
		return nil, nil, true, printJSON(c.stdout, raw)
	}
	return resp, op, false, nil
}

func printJSON(w io.Writer, raw []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		_, err = w.Write(raw)
		return err
	}
	buf.WriteByte('\n')
	_, err := buf.WriteTo(w)
	return err
}

// writeTable prints rows under a header, aligned.
func writeTable(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// noArgs rejects stray positional arguments.
func noArgs(v *verbFlags, pos []string) error {
	if len(pos) > 0 {
		return fmt.Errorf("%s: unexpected argument %q (usage: %s)", v.fs.Name(), pos[0], v.usage)
	}
	return nil
}

// sum adds up resources in the Mesos form, skipping kinds the CLI does not
// know rather than failing a whole listing over one odd resource.
func sum(rs []mesos.Resource) resources.Resources {
	var total resources.Resources
	for i := range rs {
		r, err := resources.FromMesos("resources", rs[i:i+1])
		if err != nil {
			continue
		}
		total = total.Add(r)
	}
	return total
}

// fmtNum renders a scalar without trailing zeros: 4, 0.5, 1.25.
func fmtNum(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// fmtMB renders megabytes compactly: 512M, 8G, 1.5G.
func fmtMB(mb float64) string {
	switch {
	case mb >= 1024*1024:
		return strconv.FormatFloat(roundTo(mb/(1024*1024), 1), 'f', -1, 64) + "T"
	case mb >= 1024:
		return strconv.FormatFloat(roundTo(mb/1024, 1), 'f', -1, 64) + "G"
	case mb == 0:
		return "0"
	}
	return strconv.FormatFloat(roundTo(mb, 1), 'f', -1, 64) + "M"
}

func roundTo(v float64, places int) float64 {
	p := 1.0
	for range places {
		p *= 10
	}
	return float64(int64(v*p+0.5)) / p
}

// fmtPorts renders port ranges without brackets, "-" when there are none.
func fmtPorts(r resources.Ranges) string {
	if len(r) == 0 {
		return "-"
	}
	s := r.String()
	return s[1 : len(s)-1]
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
