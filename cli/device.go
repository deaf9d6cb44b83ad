package cli

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
)

// Device tokens: the server hands one out with every sign-in, and the next
// sign-in of the same account to the same server sends it back, so that
// failed logins from others behind the same address do not lock this client
// out. They live in devices.json beside admin.json, keyed by server and
// user, and outlast a logout: the token is no credential, only a proof that
// this client signed in before.

// maxDevices bounds devices.json.
const maxDevices = 64

func devicesPath(env Env) (string, error) {
	p, err := configPath(env)
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(p), "devices.json"), nil
}

func deviceKey(server, user string) string { return server + " " + user }

// loadDevices returns the stored device tokens; none when the file is
// missing or damaged (a lost token only costs the throttle's exemption).
func loadDevices(env Env) map[string]string {
	devices := map[string]string{}
	path, err := devicesPath(env)
	if err != nil {
		return devices
	}
	data, err := os.ReadFile(path)
	if err != nil || len(data) > 64<<10 || json.Unmarshal(data, &devices) != nil {
		return map[string]string{}
	}
	return devices
}

// savedDevice returns the device token kept for user on server, or "".
func savedDevice(env Env, server, user string) string {
	return loadDevices(env)[deviceKey(server, user)]
}

// saveDevice keeps token for user on server. Failing to is not an error
// for the login: the next one is only throttled like a stranger's.
func saveDevice(env Env, server, user, token string) {
	if token == "" {
		return
	}
	devices := loadDevices(env)
	if _, ok := devices[deviceKey(server, user)]; !ok && len(devices) >= maxDevices {
		devices = map[string]string{}
	}
	devices[deviceKey(server, user)] = token
	path, err := devicesPath(env)
	if err != nil || os.MkdirAll(filepath.Dir(path), 0o700) != nil {
		return
	}
	data, _ := json.MarshalIndent(devices, "", "  ")
	tmp, err := os.CreateTemp(filepath.Dir(path), ".devices-*.json")
	if err != nil {
		return
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append(data, '\n'))
	if err = errors.Join(err, tmp.Close()); err == nil {
		_ = os.Rename(tmp.Name(), path)
	}
}
