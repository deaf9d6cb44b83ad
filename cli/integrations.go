package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/client"
	"github.com/hoist-jit/hoist/wire"
)

// newIntegrations is "hoist admin integrations": the sinks Hoist's events
// leave through.
func newIntegrations(env Env) *cobra.Command {
	root := &cobra.Command{Use: "integrations", Short: "Where events go: webhook, Slack, Teams, SMTP, syslog and HEC sinks"}
	add := &cobra.Command{Use: "add KIND NAME …", Short: "Add a sink: webhook, slack, teams, smtp, syslog or hec"}
	add.AddCommand(newAddWebhook(env), newAddSlack(env), newAddTeams(env), newAddSMTP(env), newAddSyslog(env), newAddHEC(env))
	refuseUnknown(add)
	root.AddCommand(newIntegrationsLs(env), add, newIntegrationsTest(env), newIntegrationsRm(env),
		newIntegrationsDead(env), newIntegrationsRetry(env))
	refuseUnknown(root)
	return root
}

func newIntegrationsLs(env Env) *cobra.Command {
	var asJSON bool
	cmd := adminCommand(env, "ls [--json]", "List the integrations: pending, failing and dead deliveries", cobra.NoArgs, func(c *client.Client, cmd *cobra.Command, args []string) error {
		ctx, cancel := timeout()
		defer cancel()
		vs, err := c.Integrations(ctx)
		if err != nil {
			return err
		}
		if asJSON {
			if vs == nil {
				vs = []wire.IntegrationView{}
			}
			return printJSON(env.Stdout, vs)
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tKIND\tTARGET\tEVENTS\tPENDING\tFAILING\tDEAD\tSTATE")
		for _, v := range vs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", v.Name, v.Kind, target(v), eventsOf(v), v.Pending, v.Failing, v.Dead, stateOf(v))
		}
		return tw.Flush()
	})
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

func target(v wire.IntegrationView) string {
	switch {
	case v.Address != "":
		return v.Address
	case v.Server != "":
		return v.Server + " → " + strings.Join(v.To, ",")
	case v.Channel != "":
		return "channel " + v.Channel
	case v.URL != "":
		return v.URL
	}
	return "-"
}

func eventsOf(v wire.IntegrationView) string {
	if v.Kind.SIEM() {
		return "every audit record"
	}
	s := strings.Join(v.Events, ",")
	if v.Group != "" {
		s += " (group " + v.Group + ")"
	}
	return s
}

func stateOf(v wire.IntegrationView) string {
	switch {
	case v.BreakerOpen:
		return "breaker open: " + v.LastError
	case v.Failing > 0:
		return "failing: " + v.LastError
	}
	return "ok"
}

// sinkFlags are the flags every add command may take.
type sinkFlags struct {
	ca, events, group string
	allowHTTP         bool
}

func (f *sinkFlags) routing(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.events, "events", "", "comma-separated event types (default: the request events and reminders)")
	cmd.Flags().StringVar(&f.group, "group", "", "only events about machines of this computer group")
}

func (f *sinkFlags) http(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.ca, "ca", "", "a PEM file of the CA to trust for this sink instead of the system's")
	cmd.Flags().BoolVar(&f.allowHTTP, "allow-http", false, "allow a plain-http URL (events in the clear)")
}

// input builds the integration with the common flags applied.
func (f *sinkFlags) input(kind hoist.SinkKind, name string, cfg hoist.SinkConfig) (wire.IntegrationInput, error) {
	in := wire.IntegrationInput{Name: name, Kind: kind, Config: cfg, Group: f.group}
	in.Config.AllowHTTP = f.allowHTTP
	if f.events != "" {
		for _, e := range strings.Split(f.events, ",") {
			if e = strings.TrimSpace(e); e != "" {
				in.Events = append(in.Events, e)
			}
		}
	}
	if f.ca != "" {
		ca, err := readSecretFile("--ca", f.ca)
		if err != nil {
			return in, err
		}
		in.Config.CA = ca
	}
	return in, nil
}

// maxSecretFile bounds a secret or CA file.
const maxSecretFile = 64 << 10

// readSecretFile returns the file's content without its trailing newline.
// The content is never printed.
func readSecretFile(flag, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", hoist.Errorf(hoist.EInvalid, "%s %s: cannot read it: %v", flag, path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", hoist.Errorf(hoist.EInvalid, "%s %s: cannot read it: %v", flag, path, err)
	}
	if len(data) > maxSecretFile {
		return "", hoist.Errorf(hoist.EInvalid, "%s %s: larger than 64 KiB", flag, path)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
	if s == "" {
		return "", hoist.Errorf(hoist.EInvalid, "%s %s: the file is empty", flag, path)
	}
	return s, nil
}

// addCommand is one "integrations add KIND NAME" command; build turns its
// flags into the integration.
func addCommand(env Env, use, short string, build func(name string) (wire.IntegrationInput, error)) *cobra.Command {
	return adminCommand(env, use, short, cobra.ExactArgs(1), func(c *client.Client, cmd *cobra.Command, args []string) error {
		in, err := build(args[0])
		if err != nil {
			return err
		}
		ctx, cancel := timeout()
		defer cancel()
		v, err := c.AddIntegration(ctx, in)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "added %s integration %q (%s); try it with: hoist admin integrations test %s\n", v.Kind, v.Name, v.ID, v.Name)
		return nil
	})
}

func newAddWebhook(env Env) *cobra.Command {
	var f sinkFlags
	var url, secretFile string
	cmd := addCommand(env, "webhook NAME --url URL --secret-file FILE [--ca FILE] [--events LIST] [--group NAME]", "Add a webhook: signed JSON POSTs",
		func(name string) (wire.IntegrationInput, error) {
			if secretFile == "" {
				return wire.IntegrationInput{}, hoist.Errorf(hoist.EInvalid, "a webhook needs --secret-file FILE (the HMAC key its receiver checks)")
			}
			secret, err := readSecretFile("--secret-file", secretFile)
			if err != nil {
				return wire.IntegrationInput{}, err
			}
			return f.input(hoist.SinkWebhook, name, hoist.SinkConfig{URL: url, Secret: secret})
		})
	cmd.Flags().StringVar(&url, "url", "", "where to POST (https)")
	cmd.Flags().StringVar(&secretFile, "secret-file", "", "a file holding the HMAC secret")
	f.http(cmd)
	f.routing(cmd)
	return cmd
}

func newAddSlack(env Env) *cobra.Command {
	var f sinkFlags
	var url, tokenFile, channel, signingFile string
	var mapUsers []string
	cmd := addCommand(env, "slack NAME (--webhook-url URL | --token-file FILE --channel ID) [--signing-secret-file FILE [--map-user SLACKID=ACCOUNT]…] [--events LIST] [--group NAME]",
		"Add Slack: Block Kit messages with a link to the request", func(name string) (wire.IntegrationInput, error) {
			cfg := hoist.SinkConfig{URL: url, Channel: channel}
			for _, m := range mapUsers {
				id, account, ok := strings.Cut(m, "=")
				if !ok {
					return wire.IntegrationInput{}, hoist.Errorf(hoist.EInvalid, "--map-user %q: give SLACK_USER_ID=ACCOUNT", m)
				}
				if cfg.SlackUsers == nil {
					cfg.SlackUsers = map[string]string{}
				}
				cfg.SlackUsers[id] = account
			}
			var err error
			if tokenFile != "" {
				if cfg.Secret, err = readSecretFile("--token-file", tokenFile); err != nil {
					return wire.IntegrationInput{}, err
				}
			}
			if signingFile != "" {
				if cfg.SigningSecret, err = readSecretFile("--signing-secret-file", signingFile); err != nil {
					return wire.IntegrationInput{}, err
				}
			}
			return f.input(hoist.SinkSlack, name, cfg)
		})
	cmd.Flags().StringVar(&url, "webhook-url", "", "the Slack incoming webhook URL")
	cmd.Flags().StringVar(&tokenFile, "token-file", "", "a file holding a bot token, for chat.postMessage")
	cmd.Flags().StringVar(&channel, "channel", "", "the channel id for chat.postMessage")
	cmd.Flags().StringVar(&signingFile, "signing-secret-file", "", "a file holding Slack's signing secret: messages get Approve / One Time / Deny buttons")
	cmd.Flags().StringArrayVar(&mapUsers, "map-user", nil, "SLACK_USER_ID=ACCOUNT: who may press the buttons, as which Hoist account (repeat)")
	f.http(cmd)
	f.routing(cmd)
	return cmd
}

func newAddTeams(env Env) *cobra.Command {
	var f sinkFlags
	var url string
	cmd := addCommand(env, "teams NAME --webhook-url URL [--events LIST] [--group NAME]", "Add Microsoft Teams: Adaptive Cards with a link to the request",
		func(name string) (wire.IntegrationInput, error) {
			return f.input(hoist.SinkTeams, name, hoist.SinkConfig{URL: url})
		})
	cmd.Flags().StringVar(&url, "webhook-url", "", "the Teams Workflows or incoming webhook URL")
	f.http(cmd)
	f.routing(cmd)
	return cmd
}

func newAddSMTP(env Env) *cobra.Command {
	var f sinkFlags
	var server, username, passwordFile, from, to string
	var implicitTLS, startTLS, plain bool
	cmd := addCommand(env, "smtp NAME --server HOST:PORT [--tls | --starttls | --insecure-plain] [--username U --password-file F] [--ca FILE] --from ADDR --to ADDR[,ADDR…] [--events LIST] [--group NAME]",
		"Add e-mail: plain text and HTML, with a link to the request", func(name string) (wire.IntegrationInput, error) {
			security := ""
			n := 0
			for flag, on := range map[string]bool{"tls": implicitTLS, "starttls": startTLS, "plain": plain} {
				if on {
					security, n = flag, n+1
				}
			}
			switch n {
			case 0:
				security = "starttls"
			case 1:
			default:
				return wire.IntegrationInput{}, hoist.Errorf(hoist.EInvalid, "give one of --tls, --starttls, --insecure-plain")
			}
			cfg := hoist.SinkConfig{Server: server, Security: security, Username: username, From: from}
			for _, a := range strings.Split(to, ",") {
				if a = strings.TrimSpace(a); a != "" {
					cfg.To = append(cfg.To, a)
				}
			}
			if passwordFile != "" {
				var err error
				if cfg.Secret, err = readSecretFile("--password-file", passwordFile); err != nil {
					return wire.IntegrationInput{}, err
				}
			}
			return f.input(hoist.SinkSMTP, name, cfg)
		})
	cmd.Flags().StringVar(&server, "server", "", "the SMTP server, HOST:PORT")
	cmd.Flags().BoolVar(&implicitTLS, "tls", false, "implicit TLS (usually port 465)")
	cmd.Flags().BoolVar(&startTLS, "starttls", false, "STARTTLS (usually port 587; the default)")
	cmd.Flags().BoolVar(&plain, "insecure-plain", false, "no TLS at all (never with a password)")
	cmd.Flags().StringVar(&username, "username", "", "the account to authenticate as")
	cmd.Flags().StringVar(&passwordFile, "password-file", "", "a file holding its password")
	cmd.Flags().StringVar(&from, "from", "", "the sender address")
	cmd.Flags().StringVar(&to, "to", "", "comma-separated recipient addresses")
	cmd.Flags().StringVar(&f.ca, "ca", "", "a PEM file of the CA to trust for this server instead of the system's")
	f.routing(cmd)
	return cmd
}

func newAddSyslog(env Env) *cobra.Command {
	var f sinkFlags
	var address, format string
	cmd := addCommand(env, "syslog NAME --address (tcp|tls|udp)://HOST:PORT [--ca FILE] [--format rfc5424|json]",
		"Add syslog: every audit record, RFC 5424, in order", func(name string) (wire.IntegrationInput, error) {
			return f.input(hoist.SinkSyslog, name, hoist.SinkConfig{Address: address, Format: format})
		})
	cmd.Flags().StringVar(&address, "address", "", "the receiver: tcp://, tls:// or udp://HOST:PORT")
	cmd.Flags().StringVar(&format, "format", "rfc5424", "the record as RFC 5424 structured data, or as JSON")
	cmd.Flags().StringVar(&f.ca, "ca", "", "a PEM file of the CA to trust for tls:// instead of the system's")
	return cmd
}

func newAddHEC(env Env) *cobra.Command {
	var f sinkFlags
	var url, tokenFile string
	cmd := addCommand(env, "hec NAME --url URL --token-file FILE [--ca FILE]", "Add an HTTP event collector (Splunk HEC): every audit record, in batches",
		func(name string) (wire.IntegrationInput, error) {
			if tokenFile == "" {
				return wire.IntegrationInput{}, hoist.Errorf(hoist.EInvalid, "an HEC sink needs --token-file FILE")
			}
			token, err := readSecretFile("--token-file", tokenFile)
			if err != nil {
				return wire.IntegrationInput{}, err
			}
			return f.input(hoist.SinkHEC, name, hoist.SinkConfig{URL: url, Secret: token})
		})
	cmd.Flags().StringVar(&url, "url", "", "the collector's event endpoint, e.g. https://splunk:8088/services/collector/event")
	cmd.Flags().StringVar(&tokenFile, "token-file", "", "a file holding the HEC token")
	f.http(cmd)
	return cmd
}

func newIntegrationsTest(env Env) *cobra.Command {
	return adminCommand(env, "test NAME", "Send a test event now and say whether it got through", cobra.ExactArgs(1), func(c *client.Client, cmd *cobra.Command, args []string) error {
		ctx, cancel := timeout()
		defer cancel()
		if err := c.TestIntegration(ctx, args[0]); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "the test reached %s\n", args[0])
		return nil
	})
}

func newIntegrationsRm(env Env) *cobra.Command {
	return adminCommand(env, "rm NAME", "Remove an integration and what it has queued", cobra.ExactArgs(1), func(c *client.Client, cmd *cobra.Command, args []string) error {
		ctx, cancel := timeout()
		defer cancel()
		if err := c.RemoveIntegration(ctx, args[0]); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "removed integration %s\n", args[0])
		return nil
	})
}

func newIntegrationsDead(env Env) *cobra.Command {
	var asJSON bool
	cmd := adminCommand(env, "dead-letters NAME [--json]", "List the deliveries given up on", cobra.ExactArgs(1), func(c *client.Client, cmd *cobra.Command, args []string) error {
		ctx, cancel := timeout()
		defer cancel()
		ds, err := c.DeadLetters(ctx, args[0])
		if err != nil {
			return err
		}
		if asJSON {
			if ds == nil {
				ds = []hoist.Delivery{}
			}
			return printJSON(env.Stdout, ds)
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DELIVERY\tEVENT\tSUBJECT\tAT\tATTEMPTS\tLAST ERROR")
		for _, d := range ds {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", d.ID, d.Event.Type, d.Event.Subject, d.Event.At.Format("2006-01-02 15:04:05Z07:00"), d.Attempts, d.LastError)
		}
		return tw.Flush()
	})
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

func newIntegrationsRetry(env Env) *cobra.Command {
	return adminCommand(env, "retry NAME [DELIVERY…]", "Queue dead letters again (all when none is named) and retry now", cobra.MinimumNArgs(1), func(c *client.Client, cmd *cobra.Command, args []string) error {
		ctx, cancel := timeout()
		defer cancel()
		n, err := c.RetryDeadLetters(ctx, args[0], args[1:])
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "queued %d dead letters of %s again; what was waiting is retried now\n", n, args[0])
		return nil
	})
}
