// Command carbon-account is the backend of the Huzhou personal carbon account
// (绿贷通个人版). With no arguments it serves HTTP; see usage for the other commands.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `carbon-account: personal carbon account backend

Usage:
  carbon-account [serve]                 start the HTTP server (the default)
  carbon-account create-operator -username NAME -role admin|operator|auditor
                                         create an operator; the password is read from
                                         CARBON_NEW_OPERATOR_PASSWORD or standard input
  carbon-account seed                    load the default activity types that are missing
  carbon-account run-job NAME            run a scheduled job once now (reconcile, prune-sessions,
                                         leaderboard-catchup, leaderboard-rebuild)
  carbon-account rebuild-leaderboards    recompute every leaderboard in Redis from the store
  carbon-account bench [flags]           benchmark POST /v1/actions over HTTP against the direct store
  carbon-account bench-leaderboards [flags]
                                         benchmark the leaderboards (1M members) on the in-process and
                                         Redis adapters, directly and over HTTP, and their rebuild
  carbon-account keygen FILE             write a new Ed25519 token signing key (PEM)
  carbon-account version                 print the version

Configuration comes from environment variables; see README.md.
`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd, rest := "serve", args
	if len(args) > 0 {
		cmd, rest = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx, stderr)
	case "create-operator":
		err = createOperator(ctx, rest, stdin, stdout, stderr)
	case "seed":
		err = seedCommand(ctx, stdout)
	case "run-job":
		err = runJob(ctx, rest, stdout)
	case "rebuild-leaderboards":
		err = rebuildLeaderboards(ctx, rest, stdout)
	case "keygen":
		err = keygen(rest, stdout)
	case "bench":
		err = benchCommand(ctx, rest, stdout)
	case "bench-leaderboards":
		err = benchLeaderboardsCommand(ctx, rest, stdout)
	case "version":
		_, err = fmt.Fprintln(stdout, version)
	case "help", "-h", "-help", "--help":
		_, err = fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 1
	}
	return 0
}
