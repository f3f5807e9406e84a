package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/huzhou-lvdaitong/carbon-account/api/token"
	"github.com/huzhou-lvdaitong/carbon-account/config"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
	"github.com/huzhou-lvdaitong/carbon-account/seeds"
)

// createOperator adds an operator account from the command line, for the first
// admin in production or for recovering access.
func createOperator(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("create-operator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	username := fs.String("username", "", "login name (3-32 of a-z 0-9 . _ -)")
	role := fs.String("role", string(domain.RoleOperator), "admin, operator or auditor")
	if err := fs.Parse(args); err != nil {
		return err
	}
	password := os.Getenv("CARBON_NEW_OPERATOR_PASSWORD")
	if password == "" {
		fmt.Fprint(stderr, "password: ")
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		password = strings.TrimRight(line, "\r\n")
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	s, err := wire(ctx, cfg, newLogger(cfg, os.Stderr))
	if err != nil {
		return err
	}
	defer s.close()
	op, err := s.operators.Create(ctx, domain.NewOperatorInput{Username: *username, Role: domain.Role(*role), Password: password}, "cli")
	if err != nil {
		return describe(err)
	}
	_, err = fmt.Fprintf(stdout, "created operator %s (%s) with id %s\n", op.Username, op.Role, op.ID)
	return err
}

// describe spells out a domain validation error for a terminal.
func describe(err error) error {
	var de *domain.Error
	if !errors.As(err, &de) || len(de.Fields) == 0 {
		return err
	}
	var b strings.Builder
	b.WriteString(de.Message)
	for _, f := range de.Fields {
		fmt.Fprintf(&b, "\n  %s %s", f.Field, f.Message)
	}
	return errors.New(b.String())
}

// runJob runs one scheduled job once, in the foreground. It takes the job's run
// lock, so with Redis it refuses (jobs.ErrBusy) while a replica is running it.
func runJob(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: carbon-account run-job NAME")
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := wire(ctx, cfg, newLogger(cfg, os.Stderr))
	if err != nil {
		return err
	}
	defer s.close()
	sched, err := s.scheduler()
	if err != nil {
		return err
	}
	defer func() { _ = sched.Shutdown(context.Background()) }() // never started: returns at once
	if err := sched.RunOnce(ctx, args[0]); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "ran %s\n", args[0])
	return err
}

// seedCommand loads the seeds explicitly (serve also does it at start-up).
func seedCommand(ctx context.Context, stdout io.Writer) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	cfg.SkipSeed = true // seeded below, with the count reported
	s, err := wire(ctx, cfg, newLogger(cfg, os.Stderr))
	if err != nil {
		return err
	}
	defer s.close()
	created, err := seeds.Load(ctx, s.store, domain.Now())
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "seeded %d new activity types (existing ones are never changed)\n", created)
	return err
}

func keygen(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: carbon-account keygen FILE")
	}
	k, err := token.GenerateKeyFile(args[0])
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "wrote %s (kid %s)\n", args[0], k.ID)
	return err
}
