package nats

import (
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// Account and user names in the server configuration.
const (
	AccountOTOS    = "OTOS"         // otos's own connection: callout and relays
	AccountDevices = "OTOS_DEVICES" // every device
	AccountApps    = "OTOS_APPS"    // every service account
	User           = "otos"
	SysUser        = "otos-sys"
	queueGroup     = "otos"
)

// Subject prefixes in AccountOTOS. Devices' publishes arrive under
// uplinkPrefix and service accounts' under appPrefix (service imports that
// carry the publisher's identity); what otos relays to devices leaves under
// downPrefix, and consumer topics and events under "otos." (stream exports).
const (
	uplinkPrefix = "up."
	appPrefix    = "app."
	downPrefix   = "down."
)

// ServerConfig returns the block of nats-server configuration that makes
// otos its authentication service, for accounts and system account sys
// (empty: "SYS"). It replaces the configuration's own accounts,
// system_account and authorization blocks; the passwords in it are bcrypt
// hashes.
func ServerConfig(k *Keys, sys string) (string, error) {
	if sys == "" {
		sys = "SYS"
	}
	pw, err := bcrypt.GenerateFromPassword([]byte(k.Password), 11)
	if err != nil {
		return "", err
	}
	syspw, err := bcrypt.GenerateFromPassword([]byte(k.SysPassword), 11)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# otos: the authorization callout and its accounts (printed by "otos nats config").
# MQTT needs server_name, jetstream and an mqtt block besides this one.
accounts {
  %[1]s: {
    users: [ { user: %[3]s, password: "%[5]s" } ]
    exports: [
      { service: "%[7]sdevices.>" }, { service: "%[7]sgateway.>" }
      { service: "%[8]sdevices.>" }, { service: "%[8]sgateway.>" }
      { stream: "%[9]sdevices.>" }, { stream: "%[9]sgateway.>" }
      { stream: "otos.>" }
    ]
  }
  # every device; its permissions are its own topics
  %[2]s: {
    jetstream: enabled
    imports: [
      { service: { account: %[1]s, subject: "%[7]sdevices.>" }, to: "devices.>", share: true }
      { service: { account: %[1]s, subject: "%[7]sgateway.>" }, to: "gateway.>", share: true }
      { stream: { account: %[1]s, subject: "%[9]sdevices.>" }, to: "devices.>" }
      { stream: { account: %[1]s, subject: "%[9]sgateway.>" }, to: "gateway.>" }
    ]
  }
  # every service account; its permissions are its tenant's otos.<tenant>.> and the devices' downlinks
  %[10]s: {
    jetstream: enabled
    imports: [
      { stream: { account: %[1]s, subject: "otos.>" } }
      { service: { account: %[1]s, subject: "%[8]sdevices.>" }, to: "devices.>", share: true }
      { service: { account: %[1]s, subject: "%[8]sgateway.>" }, to: "gateway.>", share: true }
    ]
  }
  %[11]s: {
    users: [ { user: %[4]s, password: "%[6]s" } ]
  }
}
system_account: %[11]s
authorization {
  timeout: 5s
  auth_callout {
    issuer: %[12]s
    xkey: %[13]s
    account: %[1]s
    auth_users: [ %[3]s, %[4]s ]
  }
}
`, AccountOTOS, AccountDevices, User, SysUser, pw, syspw, uplinkPrefix, appPrefix, downPrefix,
		AccountApps, sys, public(k.Issuer), public(k.XKey))
	return b.String(), nil
}
