package control

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/hoist-jit/hoist"
)

// Device tokens ("device cookies"): after a right password the server hands
// the client a token that names the account, a random device id and the
// time it was issued, signed with HMAC-SHA256 under the server's device key.
// A later sign-in to the same account that carries it is counted per device
// rather than per address (see throttle.go). The token proves only that
// this client signed in to the account before; it never stands in for the
// password.
//
//	hdv_ base64url(ACCOUNT-ID "." DEVICE-ID "." UNIX-SECONDS) "." base64url(MAC)

// DevicePrefix marks Hoist device tokens.
const DevicePrefix = "hdv_"

// maxDeviceToken bounds what is parsed from a client.
const maxDeviceToken = 512

// device is a verified device token's contents.
type device struct {
	account, id string
	issued      time.Time
}

// deviceMAC is the MAC of payload under key, with a label so that the key
// signs nothing else by mistake.
func deviceMAC(key []byte, payload string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("hoist device token v1\x00"))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// issueDevice returns a device token for account, keeping id when it is not
// empty (the same device signing in again) and drawing a new one otherwise.
func issueDevice(key []byte, account, id string, now time.Time) string {
	if id == "" {
		raw := make([]byte, 16)
		_, _ = rand.Read(raw)
		id = hex.EncodeToString(raw)
	}
	payload := account + "." + id + "." + strconv.FormatInt(now.Unix(), 10)
	return DevicePrefix + base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." +
		base64.RawURLEncoding.EncodeToString(deviceMAC(key, payload))
}

// verifyDevice returns the device token's contents when its MAC is right,
// it names account and it was issued no more than hoist.KnownDeviceFor
// before now (and not in the future); ok is false otherwise, whatever the
// reason: a client learns nothing from a refused token.
func verifyDevice(key []byte, token, account string, now time.Time) (d device, ok bool) {
	if account == "" || len(token) > maxDeviceToken || !strings.HasPrefix(token, DevicePrefix) {
		return d, false
	}
	body, sig, found := strings.Cut(token[len(DevicePrefix):], ".")
	if !found {
		return d, false
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(body)
	mac, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, deviceMAC(key, string(payload))) {
		return d, false
	}
	parts := strings.Split(string(payload), ".")
	if len(parts) != 3 || parts[0] != account || parts[1] == "" {
		return d, false
	}
	secs, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return d, false
	}
	issued := time.Unix(secs, 0)
	if issued.After(now.Add(time.Minute)) || now.Sub(issued) > hoist.KnownDeviceFor {
		return d, false
	}
	return device{account: parts[0], id: parts[1], issued: issued}, true
}

// newDeviceKey returns a random device key, for a Service given none.
func newDeviceKey() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}
