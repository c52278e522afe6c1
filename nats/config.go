package nats

import "strings"

// Account and user names in the server configuration.
const (
	AccountOTOS    = "OTOS"         // otos's own connection: callout and relays
	AccountDevices = "OTOS_DEVICES" // every device
	AccountApps    = "OTOS_APPS"    // every service account
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
// system_account and authorization blocks. It holds public keys only.
func ServerConfig(k *Keys, sys string) string {
	if sys == "" {
		sys = "SYS"
	}
	return strings.NewReplacer("{OTOS}", AccountOTOS, "{DEVICES}", AccountDevices, "{APPS}", AccountApps,
		"{USER}", public(k.User), "{SYSUSER}", public(k.Sys), "{SYS}", sys,
		"{UP}", uplinkPrefix, "{APP}", appPrefix, "{DOWN}", downPrefix,
		"{ISSUER}", public(k.Issuer), "{XKEY}", public(k.XKey)).Replace(serverConfig)
}

const serverConfig = `# otos: the authorization callout and its accounts (printed by "otos nats config").
# MQTT needs server_name, jetstream and an mqtt block besides this one.
accounts {
  {OTOS}: {
    users: [ { nkey: {USER} } ]
    exports: [
      { service: "{UP}devices.>" }, { service: "{UP}gateway.>" }
      { service: "{APP}devices.>" }, { service: "{APP}gateway.>" }
      { stream: "{DOWN}devices.>" }, { stream: "{DOWN}gateway.>" }
      { stream: "otos.>" }
    ]
  }
  # every device; its permissions are its own topics
  {DEVICES}: {
    jetstream: enabled
    imports: [
      { service: { account: {OTOS}, subject: "{UP}devices.>" }, to: "devices.>", share: true }
      { service: { account: {OTOS}, subject: "{UP}gateway.>" }, to: "gateway.>", share: true }
      { stream: { account: {OTOS}, subject: "{DOWN}devices.>" }, to: "devices.>" }
      { stream: { account: {OTOS}, subject: "{DOWN}gateway.>" }, to: "gateway.>" }
    ]
  }
  # every service account; its permissions are its tenant's otos.<tenant>.> and the devices' downlinks
  {APPS}: {
    jetstream: enabled
    imports: [
      { stream: { account: {OTOS}, subject: "otos.>" } }
      { service: { account: {OTOS}, subject: "{APP}devices.>" }, to: "devices.>", share: true }
      { service: { account: {OTOS}, subject: "{APP}gateway.>" }, to: "gateway.>", share: true }
    ]
  }
  {SYS}: {
    users: [ { nkey: {SYSUSER} } ]
  }
}
system_account: {SYS}
authorization {
  timeout: 5s
  auth_callout {
    issuer: {ISSUER}
    xkey: {XKEY}
    account: {OTOS}
    auth_users: [ {USER}, {SYSUSER} ]
  }
}
`
