package ratelimit

// KeyZone names the bucket of an API key's own limit in results, the
// RateLimit headers and metrics. No declared zone may take the name
// (ValidateZoneName refuses it), so its buckets are the keys' alone.
const KeyZone = "api_key"

// KeyRequest is the request that charges an API key's own bucket: zone
// KeyZone, keyed by the key id (never its secret; Redis stores a hash
// of it), with the key's quota. While the store is unavailable it fails
// closed, as zones do by default.
func KeyRequest(keyID string, q Quota) Request {
	return Request{
		Zone: Zone{Name: KeyZone, Rate: q.Rate, Burst: q.Burst, OnError: OnErrorDeny},
		Key:  keyID,
	}
}
