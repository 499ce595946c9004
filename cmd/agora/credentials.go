package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"agora/core/authn"
)

// runCredentials is `agora credentials add|token`: it keeps a credentials
// file (--credentials of the servers) holding only hashes.
func runCredentials(args []string) error { return withCLI((*cli).credentialsVerb)(args) }

const credentialsUsage = `agora credentials add   --file FILE --principal NAME   (asks for the secret; or reads it from stdin)
agora credentials token --file FILE --principal NAME   (prints a new bearer token, once)`

func (c *cli) credentialsVerb(args []string) error {
	if len(args) == 0 || (args[0] != "add" && args[0] != "token") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(c.stdout, credentialsUsage)
			return nil
		}
		return usagef("usage:\n%s", credentialsUsage)
	}
	verb := args[0]
	fs := flag.NewFlagSet("credentials "+verb, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	file := fs.String("file", "", "the credentials file to create or change")
	principal := fs.String("principal", "", "the principal to add or change")
	if err := fs.Parse(args[1:]); err != nil {
		return usagef("credentials %s: %v\nusage:\n%s", verb, err, credentialsUsage)
	}
	if *file == "" || *principal == "" {
		return usagef("credentials %s: --file and --principal are required\nusage:\n%s", verb, credentialsUsage)
	}
	creds, err := loadOrNewCredentials(*file)
	if err != nil {
		return err
	}
	var secretHash, tokenHash, token string
	if verb == "add" {
		secret := c.getenv("AGORA_SECRET")
		if secret == "" {
			if secret, err = readHidden(c.stderr, fmt.Sprintf("secret for %s: ", *principal)); err != nil {
				return err
			}
		}
		if len(secret) < 8 {
			return fmt.Errorf("credentials add: the secret is %d characters; use at least 8", len(secret))
		}
		if secretHash, err = authn.HashSecret(secret); err != nil {
			return err
		}
	} else if token, tokenHash, err = authn.NewToken(); err != nil {
		return err
	}
	if err := creds.Set(*principal, secretHash, tokenHash); err != nil {
		return fmt.Errorf("credentials %s: %w", verb, err)
	}
	data, err := creds.Marshal()
	if err != nil {
		return err
	}
	if err := writeFile0600(*file, data); err != nil {
		return err
	}
	if verb == "token" {
		fmt.Fprintf(c.stderr, "bearer token for %s (shown once; only its hash is kept in %s):\n", *principal, *file)
		fmt.Fprintln(c.stdout, token)
		return nil
	}
	fmt.Fprintf(c.stdout, "%s: secret of %s stored as a hash\n", *file, *principal)
	return nil
}

func loadOrNewCredentials(path string) (*authn.Credentials, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return authn.ParseCredentials([]byte(`{"credentials": []}`))
	}
	return authn.LoadCredentials(path)
}

// writeFile0600 replaces path atomically with a file only its owner reads.
func writeFile0600(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
