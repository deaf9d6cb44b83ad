package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/hoist-jit/hoist"
)

// DefaultConfig is the configuration file serve reads when --config is not
// given and the file exists (the Debian package installs it).
const DefaultConfig = "/etc/hoist/server.yaml"

// maxConfig bounds the configuration file read: it is a page of keys.
const maxConfig = 1 << 20

// addConfigFlag gives cmd a --config flag whose file fills in every flag the
// command line did not set. The file is YAML with one key per flag, named
// as the flag; a list is a repeated flag. An unknown key, a nested value or
// a value the flag refuses is an error naming the key.
func addConfigFlag(cmd *cobra.Command, def string) {
	var path string
	cmd.Flags().StringVar(&path, "config", "", "YAML file with a key for any flag of this command; flags given here override it (default "+def+" when it exists)")
	cmd.PreRunE = func(cmd *cobra.Command, args []string) error {
		file, explicit := path, path != ""
		if !explicit {
			file = def
		}
		return loadConfig(cmd, file, explicit)
	}
}

// loadConfig sets the flags of cmd that were not given from the YAML file
// at path. A missing file is an error only when it was asked for.
func loadConfig(cmd *cobra.Command, path string, explicit bool) error {
	data, err := readConfig(path)
	if errors.Is(err, os.ErrNotExist) && !explicit {
		return nil
	}
	if err != nil {
		return hoist.Errorf(hoist.EInvalid, "cannot read the configuration %s: %v", path, err)
	}
	var values map[string]any
	if err := yaml.UnmarshalStrict(data, &values); err != nil {
		return hoist.Errorf(hoist.EInvalid, "%s is not a YAML map of flags: %v", path, err)
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the first error is the same on every run
	for _, k := range keys {
		if err := setFromConfig(cmd, k, values[k]); err != nil {
			return hoist.Errorf(hoist.EInvalid, "%s: key %q: %v", path, k, err)
		}
	}
	return nil
}

func readConfig(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfig+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxConfig {
		return nil, fmt.Errorf("larger than %d bytes", maxConfig)
	}
	return data, nil
}

// setFromConfig sets flag key from the file's value v unless the command
// line set it. A null value leaves the flag's default.
func setFromConfig(cmd *cobra.Command, key string, v any) error {
	fs := cmd.Flags()
	f := fs.Lookup(key)
	if f == nil || key == "config" || key == "help" {
		return errors.New("no such flag (see --help for the keys)")
	}
	if f.Changed || v == nil {
		return nil
	}
	items, ok := v.([]any)
	if !ok {
		items = []any{v}
	}
	for _, item := range items {
		s, err := scalar(item)
		if err != nil {
			return err
		}
		if err := fs.Set(key, s); err != nil {
			return err
		}
	}
	return nil
}

// scalar is a YAML scalar as the command line would spell it.
func scalar(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case bool:
		return strconv.FormatBool(v), nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	}
	return "", errors.New("want a string, number, boolean or a list of them")
}
