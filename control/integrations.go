package control

import (
	"context"
	"crypto/x509"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/wire"
)

// IntegrationInput is what an admin gives to add an integration (see
// wire.IntegrationInput).
type IntegrationInput = wire.IntegrationInput

// IntegrationView is an integration as the API shows it (see
// wire.IntegrationView).
type IntegrationView = wire.IntegrationView

// maxCA bounds a trusted CA bundle.
const maxCA = 64 << 10

// AddIntegration validates and stores a new integration. It starts at the
// current end of the outbox and of the audit log: a new sink receives what
// happens from now on. Bad input fails with EInvalid (the field named) and
// stores nothing.
func (s *Service) AddIntegration(ctx context.Context, a Actor, in IntegrationInput) (IntegrationView, error) {
	if err := a.require(hoist.PermitManageIntegrations); err != nil {
		return IntegrationView{}, err
	}
	now := s.now()
	it := hoist.Integration{ID: hoist.NewID(hoist.IntegrationIDPrefix), Name: in.Name, Kind: in.Kind, Config: in.Config,
		Events: in.Events, Group: in.Group, CreatedAt: now, CreatedBy: a.Name, Version: 1}
	if len(it.Events) == 0 && !it.Kind.SIEM() {
		it.Events = slices.Clone(hoist.DefaultEvents)
	}
	if err := s.checkIntegration(it); err != nil {
		return IntegrationView{}, err
	}
	sealed, err := s.box.sealConfig(it.ID, it.Config)
	if err != nil {
		return IntegrationView{}, err
	}
	stored := it
	stored.Config = sealed
	if it.Kind == hoist.SinkSlack || it.Kind == hoist.SinkTeams {
		// A chat webhook URL is itself the credential.
		if stored.Config.URL, err = s.box.seal(it.ID, it.Config.URL); err != nil {
			return IntegrationView{}, err
		}
	}
	err = s.store.Update(ctx, func(tx hoist.Tx) error {
		if it.Group != "" {
			if _, err := tx.Group(ctx, it.Group); err != nil {
				return hoist.FieldErrorf("group", "no computer group %q", it.Group)
			}
		}
		var err error
		if stored.EventCursor, err = tx.LastIntegrationEvent(ctx); err != nil {
			return err
		}
		if stored.AuditCursor, _, err = tx.AuditHead(ctx); err != nil {
			return err
		}
		if err := tx.InsertIntegration(ctx, stored); err != nil {
			return err
		}
		return audit(ctx, tx, now, a.Name, "integration.created", it.ID, map[string]any{
			"name": it.Name, "kind": it.Kind, "events": it.Events, "group": it.Group})
	})
	if err != nil {
		return IntegrationView{}, err
	}
	s.log.Info("integration added", "name", it.Name, "kind", it.Kind, "by", a.Name)
	return viewOf(it, nil), nil
}

// checkIntegration is every check of a new integration that needs no store.
func (s *Service) checkIntegration(it hoist.Integration) error {
	if err := it.Validate(); err != nil {
		return err
	}
	if it.Config.CA != "" {
		if len(it.Config.CA) > maxCA || !x509.NewCertPool().AppendCertsFromPEM([]byte(it.Config.CA)) {
			return hoist.FieldErrorf("ca", "not a PEM certificate bundle (at most 64 KiB)")
		}
	}
	for _, target := range []string{it.Config.URL, it.Config.Address} {
		if s.pointsAtSelf(target) {
			return hoist.FieldErrorf("url", "%s is this server's own API; an integration cannot send there", redactURL(target))
		}
	}
	return nil
}

// pointsAtSelf reports whether target names this server: the same port on
// the host of one of its URLs, or on a loopback or unspecified address.
// A sink sending there could replay the server's own events at its admin
// API with whatever the receiver allows.
func (s *Service) pointsAtSelf(target string) bool {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return false
	}
	host, port := strings.ToLower(u.Hostname()), portOf(u)
	for _, self := range s.selfURLs {
		su, err := url.Parse(self)
		if err != nil || portOf(su) != port {
			continue
		}
		if host == strings.ToLower(su.Hostname()) || host == "localhost" || strings.HasSuffix(host, ".localhost") {
			return true
		}
		if ip := net.ParseIP(host); ip != nil && (ip.IsLoopback() || ip.IsUnspecified()) {
			return true
		}
	}
	return false
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch u.Scheme {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}

// redactURL cuts a URL to scheme and host: chat webhook paths are secrets.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(an address)"
	}
	return u.Scheme + "://" + u.Host + "/…"
}

func viewOf(it hoist.Integration, counts map[hoist.DeliveryState]int) IntegrationView {
	c := it.Config
	v := IntegrationView{ID: it.ID, Name: it.Name, Kind: it.Kind, Events: it.Events, Group: it.Group, URL: c.URL,
		Channel: c.Channel, Server: c.Server, Security: c.Security, Username: c.Username, From: c.From, To: c.To,
		Address: c.Address, Format: c.Format, CA: c.CA != "", AllowHTTP: c.AllowHTTP, CreatedAt: it.CreatedAt,
		CreatedBy: it.CreatedBy, Failing: it.Failures, LastError: it.LastError, LastOK: it.LastOK,
		SlackUsers: c.SlackUsers, Interactive: c.SigningSecret != ""}
	if it.Kind == hoist.SinkSlack || it.Kind == hoist.SinkTeams || strings.HasPrefix(v.URL, sealedPrefix) {
		v.URL = ""
		if c.URL != "" && !strings.HasPrefix(c.URL, sealedPrefix) {
			v.URL = redactURL(c.URL)
		}
	}
	v.Pending, v.Dead, v.Delivered = counts[hoist.DeliveryPending], counts[hoist.DeliveryDead], counts[hoist.DeliveryDelivered]
	return v
}

// Integrations lists the integrations with where their delivery stands.
func (s *Service) Integrations(ctx context.Context, a Actor) ([]IntegrationView, error) {
	if err := a.require(hoist.PermitManageIntegrations); err != nil {
		return nil, err
	}
	return s.IntegrationStats(ctx)
}

// IntegrationStats is Integrations for the server itself (its metrics),
// with no account to check.
func (s *Service) IntegrationStats(ctx context.Context) ([]IntegrationView, error) {
	now := s.now()
	out := []IntegrationView{}
	err := s.store.View(ctx, func(tx hoist.Tx) error {
		head, _, err := tx.AuditHead(ctx)
		if err != nil {
			return err
		}
		its, err := tx.Integrations(ctx)
		if err != nil {
			return err
		}
		for _, it := range its {
			counts, err := tx.CountDeliveries(ctx, it.ID)
			if err != nil {
				return err
			}
			v := viewOf(it, counts)
			if it.Kind.SIEM() {
				v.Pending = int(head - it.AuditCursor)
			}
			v.BreakerOpen = it.Open(now)
			out = append(out, v)
		}
		return nil
	})
	return out, err
}

// RemoveIntegration deletes the integration named key (name or id) and its
// queued deliveries.
func (s *Service) RemoveIntegration(ctx context.Context, a Actor, key string) error {
	if err := a.require(hoist.PermitManageIntegrations); err != nil {
		return err
	}
	now := s.now()
	return s.store.Update(ctx, func(tx hoist.Tx) error {
		it, err := tx.Integration(ctx, key)
		if err != nil {
			return err
		}
		if err := tx.DeleteIntegration(ctx, it.ID); err != nil {
			return err
		}
		return audit(ctx, tx, now, a.Name, "integration.deleted", it.ID, map[string]any{"name": it.Name, "kind": it.Kind})
	})
}

// DeadLetters lists the integration's deliveries that were given up on.
func (s *Service) DeadLetters(ctx context.Context, a Actor, key string) ([]hoist.Delivery, error) {
	if err := a.require(hoist.PermitManageIntegrations); err != nil {
		return nil, err
	}
	var out []hoist.Delivery
	err := s.store.View(ctx, func(tx hoist.Tx) error {
		it, err := tx.Integration(ctx, key)
		if err != nil {
			return err
		}
		out, err = tx.Deliveries(ctx, hoist.DeliveryFilter{IntegrationID: it.ID, State: hoist.DeliveryDead, Limit: hoist.MaxListLimit})
		return err
	})
	if out == nil {
		out = []hoist.Delivery{}
	}
	return out, err
}

// RetryDeadLetters queues the integration's dead letters again (only ids
// when given), with a fresh count of attempts and under the same delivery
// ids, and closes its breaker; with no ids, what waits for its backoff is
// made due now too. It returns how many dead letters were queued.
func (s *Service) RetryDeadLetters(ctx context.Context, a Actor, key string, ids []string) (int, error) {
	if err := a.require(hoist.PermitManageIntegrations); err != nil {
		return 0, err
	}
	now := s.now()
	n := 0
	err := s.store.Update(ctx, func(tx hoist.Tx) error {
		n = 0
		it, err := tx.Integration(ctx, key)
		if err != nil {
			return err
		}
		dead, err := tx.Deliveries(ctx, hoist.DeliveryFilter{IntegrationID: it.ID, State: hoist.DeliveryDead, Limit: hoist.MaxListLimit})
		if err != nil {
			return err
		}
		for _, d := range dead {
			if len(ids) > 0 && !slices.Contains(ids, d.ID) {
				continue
			}
			d.State, d.Attempts, d.NextAt, d.UpdatedAt = hoist.DeliveryPending, 0, now, now
			if err := tx.UpdateDelivery(ctx, d); err != nil {
				return err
			}
			n++
		}
		if len(ids) > 0 && n != len(ids) {
			return hoist.Errorf(hoist.ENotFound, "ids: not every id given is a dead letter of %s", it.Name)
		}
		if len(ids) == 0 {
			// "Retry now": what waits for its backoff is due too.
			pending, err := tx.Deliveries(ctx, hoist.DeliveryFilter{IntegrationID: it.ID, State: hoist.DeliveryPending, Limit: hoist.MaxListLimit})
			if err != nil {
				return err
			}
			for _, d := range pending {
				if d.NextAt.After(now) {
					d.NextAt, d.UpdatedAt = now, now
					if err := tx.UpdateDelivery(ctx, d); err != nil {
						return err
					}
				}
			}
		}
		it.BreakerUntil, it.Failures, it.RetryAt = time.Time{}, 0, time.Time{}
		it.Version++
		if err := tx.UpdateIntegration(ctx, it); err != nil {
			return err
		}
		return audit(ctx, tx, now, a.Name, "integration.retried", it.ID, map[string]any{"name": it.Name, "deliveries": n})
	})
	return n, err
}
