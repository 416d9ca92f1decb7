// SPDX-License-Identifier: MIT

package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/hbmon/hb/web"
)

// runPasswd is `hb-probe passwd [--token] USER`: prints the [[users]]
// lines for USER, with a PBKDF2-SHA256 password hash (260,000 iterations)
// of a password read from the terminal (twice) or from stdin, or with a
// new API token (--token: the token is printed once, the config keeps its
// SHA-256).
func runPasswd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hb-probe passwd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	token := fs.Bool("token", false, "make a new API token for USER instead of a password hash")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: hb-probe passwd [--token] USER\n\n"+
			"Prints the [[users]] lines to put in hb-probe.toml for USER (dashboard and API logins):\n"+
			"  password = \"pbkdf2:sha256:260000$SALT$HASH\"   of a password read from the terminal\n"+
			"                                                  (asked twice) or from the first line of stdin;\n"+
			"  tokens = [\"sha256:...\"]                         with --token: a new API token, printed once\n"+
			"                                                  (send it as Authorization: Bearer TOKEN).\n"+
			"Reload the daemon (SIGHUP) to apply.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitSetup
	}
	if fs.NArg() != 1 || fs.Arg(0) == "" {
		fs.Usage()
		return exitSetup
	}
	user := fs.Arg(0)
	if *token {
		tok, stored, err := web.NewToken()
		if err != nil {
			fmt.Fprintf(stderr, "hb-probe: passwd: %v\n", err)
			return exitSetup
		}
		fmt.Fprintf(stderr, "API token for %s (shown once; keep it secret): %s\n", user, tok)
		fmt.Fprintf(stdout, "[[users]]\nname = %q\ntokens = [%q]\n", user, stored)
		return exitOK
	}
	pw, err := readPassword(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "hb-probe: passwd: %v\n", err)
		return exitSetup
	}
	h, err := web.HashPassword(pw)
	if err != nil {
		fmt.Fprintf(stderr, "hb-probe: passwd: %v\n", err)
		return exitSetup
	}
	fmt.Fprintf(stdout, "[[users]]\nname = %q\npassword = %q\n", user, h)
	return exitOK
}

// readPassword reads a password from the terminal (twice, not echoed) or
// the first line of stdin.
func readPassword(stderr io.Writer) (string, error) {
	fd := int(os.Stdin.Fd())
	if term.IsTerminal(fd) {
		fmt.Fprint(stderr, "Password: ")
		a, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(stderr, "Again: ")
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords differ")
		}
		return checkPassword(string(a))
	}
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("no password on stdin: %w", err)
	}
	return checkPassword(strings.TrimRight(line, "\r\n"))
}

func checkPassword(p string) (string, error) {
	if len(p) < 8 {
		return "", errors.New("password: at least 8 characters")
	}
	return p, nil
}
