package emqx

import "strings"

// Prefix is where otos serves Handler on its HTTP port.
const Prefix = "/api/v1/emqx"

// ServerConfig returns the emqx.conf (HOCON) block that makes otos, at
// base URL otos (as EMQX reaches it), EMQX's authenticator and authorizer,
// with token as the credential EMQX sends; and the rule that republishes
// each device uplink under otos/<tenant>/<number>/<topic>, where the
// tenant's service accounts read it, as otos's embedded broker does.
func ServerConfig(otos string, token string) string {
	return strings.NewReplacer("{URL}", strings.TrimSuffix(otos, "/")+Prefix, "{TOKEN}", token).Replace(serverConfig)
}

const serverConfig = `# otos: EMQX's authentication and authorization (printed by "otos emqx config").
# EMQX 5.8 or later: the authentication answer carries the client's ACL and attributes.
authentication = [
  {
    mechanism = password_based
    backend = http
    enable = true
    method = post
    url = "{URL}/authn"
    body { username = "${username}", password = "${password}", clientid = "${clientid}", peerhost = "${peerhost}" }
    headers { "content-type" = "application/json", "authorization" = "Bearer {TOKEN}" }
    request_timeout = 5s
  }
]
authorization {
  # what no rule allows is refused: never "allow" on an error or an unknown topic
  no_match = deny
  deny_action = ignore
  cache { enable = true, max_size = 32, ttl = 10s }
  sources = [
    {
      type = http
      enable = true
      method = post
      url = "{URL}/authz"
      body { username = "${username}", clientid = "${clientid}", topic = "${topic}", action = "${action}" }
      headers { "content-type" = "application/json", "authorization" = "Bearer {TOKEN}" }
      request_timeout = 5s
    }
  ]
}
# a device's uplinks, republished under the tenant and number otos gave it
rule_engine.rules.otos_uplinks {
  sql = "SELECT * FROM \"devices/#\", \"gateway/#\" WHERE is_not_null(client_attrs.otos_number)"
  actions = [
    { function = republish, args { topic = "otos/${client_attrs.otos_tenant}/${client_attrs.otos_number}/${topic}", qos = "${qos}", payload = "${payload}" } }
  ]
}
`
