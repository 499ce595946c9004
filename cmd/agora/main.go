// Command agora is Agora's single binary: the master, the agent, dev mode,
// and the CLI verbs that talk to a running master. main only dispatches the
// first argument through the command table and turns an error into an exit
// status; each verb lives in its own file.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"agora/core/containerizer/process"
)

// command is one verb of the binary.
type command struct {
	summary string
	run     func(args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"master":      {"run a master (scheduler and operator APIs on one port)", runMaster},
		"agent":       {"run an agent that offers this host's resources to a master", runAgent},
		"dev":         {"run a master and an agent in one process for local use", runDev},
		"services":    {"run the services framework (Marathon API) on its own, against a master", runServices},
		"lb":          {"run a load balancer: HAProxy kept in step with the services registered in Consul", runLB},
		"agents":      {"list agents with their resources and attributes", runAgents},
		"frameworks":  {"list frameworks with their roles, tasks and resources", runFrameworks},
		"tasks":       {"list running tasks (--all adds completed ones)", runTasks},
		"task":        {"task log TASK: print a task's stdout or stderr (--follow, --tail N)", runTask},
		"app":         {"manage services: app deploy|plan|list|show|scale|restart|rollback|delete|why", runApp},
		"job":         {"manage scheduled jobs: job add|list|show|run|history|suspend|resume|delete", runJob},
		"login":       {"keep a principal's credentials for the CLI's verbs (asks for the secret)", runLogin},
		"credentials": {"credentials add|token: keep hashed secrets and tokens in a --credentials file", runCredentials},
		// Internal: started by the agent's process containerizer, one per task.
		process.ShimSubcommand: {"(internal) supervise one task for the process containerizer", runShim},
	}
}

func main() { os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr)) }

// dispatch runs the verb named by args[0] and returns the exit status: 0 on
// success, 1 when the verb fails (or the error's ExitCode(), if it has
// one), 2 for a missing or unknown verb.
func dispatch(args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 {
		usage(stderr, cmds)
		return 2
	}
	verb := args[0]
	if verb == "help" || verb == "-h" || verb == "--help" {
		if len(args) > 1 {
			if _, ok := cmds[args[1]]; ok {
				return dispatch([]string{args[1], "-h"}, stdout, stderr)
			}
		}
		usage(stdout, cmds)
		return 0
	}
	c, ok := cmds[verb]
	if !ok {
		fmt.Fprintf(stderr, "agora: unknown command %q\n\n", verb)
		usage(stderr, cmds)
		return 2
	}
	if err := c.run(args[1:]); err != nil {
		fmt.Fprintf(stderr, "agora: %v\n", err)
		var coded interface{ ExitCode() int }
		if errors.As(err, &coded) {
			return coded.ExitCode()
		}
		return 1
	}
	return 0
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "usage: agora <command> [arguments]\n\ncommands:\n")
	for _, n := range names {
		fmt.Fprintf(w, "  %-11s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintf(w, "\nRun `agora help <command>` for a command's flags.\n")
}
