package api

import "net/http"

// describeDeviceCertsAdmin registers the trusted device certificate
// routes in the OpenAPI document.
func describeDeviceCertsAdmin(spec *apiSpec, path string) {
	spec.schema("TrustedCertInput", strictObject(map[string]any{
		"pem":  str("One PEM CERTIFICATE block: a CA certificate (kind ca) or a device certificate whose common name is the device id (kind certificate). Never a private key."),
		"kind": enumOf("ca", "certificate"),
	}, "pem"))
	spec.schema("TrustedCert", object(map[string]any{
		"id":        str("The certificate's SHA-256 fingerprint (hex)."),
		"kind":      enumOf("ca", "certificate"),
		"subject":   str("The certificate's subject."),
		"issuer":    str("The certificate's issuer."),
		"notBefore": dateTime("Start of validity."),
		"notAfter":  dateTime("End of validity."),
		"pem":       str("The certificate, PEM."),
		"createdAt": dateTime("When it was registered."),
	}, "id", "kind", "subject", "notAfter", "pem"))
	spec.schema("TrustedCertPage", object(map[string]any{"items": arrayOf(ref("TrustedCert"))}, "items"))
	admin := []string{schemeBearer}
	spec.route(http.MethodPost, path, operation{
		ID: "addDeviceCertificate", Tag: "admin", Security: admin,
		Summary: "Trust a CA (or one device certificate) for MQTT client-certificate authentication in the environment: a device whose certificate it signed connects over TLS as the device its common name names. Registering the same certificate again returns it.",
		Request: "TrustedCertInput", Responses: []response{{Status: 201, Description: "Trusted.", Schema: "TrustedCert"}},
		Problems: []int{400, 401, 403, 404},
	})
	spec.route(http.MethodGet, path, operation{
		ID: "listDeviceCertificates", Tag: "admin", Security: admin, Summary: "The certificates the environment trusts for device mTLS.",
		Responses: []response{{Status: 200, Description: "The certificates.", Schema: "TrustedCertPage"}},
		Problems:  []int{401, 403, 404},
	})
	spec.route(http.MethodDelete, path+"/{certId}", operation{
		ID: "removeDeviceCertificate", Tag: "admin", Security: admin, Summary: "Stop trusting a certificate for new device connections (within 30s on every node); live connections stay.",
		Responses: []response{{Status: 204, Description: "Removed."}},
		Problems:  []int{401, 403, 404},
	})
}
