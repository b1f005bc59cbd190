package pages

// The names of the form fields the default pages submit; an operator's
// templates must use the same names for the endpoints to understand them.
const (
	// FieldProvider carries the chosen provider's Name (chooser).
	FieldProvider = "provider"
	// FieldReturnTo carries ChooserData.ReturnTo back to the login
	// endpoint (chooser).
	FieldReturnTo = "return_to"
	// FieldRemember is "1" when the person asked to be remembered on this
	// device (chooser).
	FieldRemember = "remember"
	// FieldEverywhere is "1" when the person asked to sign out on every
	// device (sign-out form).
	FieldEverywhere = "everywhere"
)

// Every data type below holds only plain strings, bools, ints and slices
// of them: html/template escapes all of them for their context, and a
// template has no way to mark one as safe HTML, URL or script.

// Provider is one identity provider offered on the chooser.
type Provider struct {
	// Name is the provider's configured name, the value of the provider
	// form field ("staff").
	Name string
	// Label is what people read after "Sign in with" ("Staff (Entra
	// ID)").
	Label string
	// URL starts a login with this provider alone, with the return URL
	// but without remember-me: for templates that offer links rather than
	// the form. It MUST be a path on this origin or an absolute http(s)
	// URL; Chooser refuses anything else.
	URL string
}

// ChooserData is what chooser.html sees.
type ChooserData struct {
	// Title is the page title and heading; "Sign in" when empty.
	Title string
	// Action is the login endpoint the form submits to with GET
	// ("/.portcullis/login"): a path on this origin, which the
	// Content-Security-Policy's form-action 'self' allows.
	Action string
	// Providers are the identity providers to offer, in order.
	Providers []Provider
	// ReturnTo is where to go after the login, submitted back in the
	// return_to field. The caller MUST have validated it; the page only
	// escapes it.
	ReturnTo string
	// RememberMe offers the "Remember me on this device" checkbox (the
	// remember field).
	RememberMe bool
	// Remembered checks the box from the start (the request already asked
	// for remember=1, as a chooser submission without a provider does).
	Remembered bool
	// RememberFor says for how long, in words ("30 days"); may be empty.
	RememberFor string
	// RequestID identifies the request in the gateway's log.
	RequestID string
}

// LandingData is what landing.html sees.
type LandingData struct {
	// Next is where the navigation continues: a path on this origin or
	// an absolute http(s) URL (another host of the cookie domain).
	Next string
}

// SignOutData is what signout.html sees.
type SignOutData struct {
	// Title is the page title and heading; "Sign out" when empty.
	Title string
	// Action is the logout endpoint the form POSTs to
	// ("/.portcullis/logout"): a path on this origin.
	Action string
	// Everywhere offers the "Sign out on every device" checkbox (the
	// everywhere field).
	Everywhere bool
	// RequestID identifies the request in the gateway's log.
	RequestID string
}

// RedirectData is what redirect.html sees.
type RedirectData struct {
	// Target is the absolute http(s) URL at the identity provider.
	Target string
}

// ErrorData is what error.html sees.
type ErrorData struct {
	// Status is the HTTP status, 400 to 599.
	Status int
	// Title is a short title; the status text ("Unauthorized") when
	// empty.
	Title string
	// Message is a sentence for people; never internal detail.
	Message string
	// RequestID identifies the request in the gateway's log.
	RequestID string
}

// samples are the data each template is executed with at load: one with
// every field set and every option on, one with everything empty, so both
// sides of a template's conditionals run.
var samples = [numKinds][]any{
	chooser: {
		ChooserData{
			Title: "Sign in", Action: "/.portcullis/login",
			Providers: []Provider{
				{Name: "staff", Label: "Staff", URL: "/.portcullis/login?provider=staff&return_to=%2F"},
				{Name: "partners", Label: "Partners", URL: "https://auth.example.com/.portcullis/login?provider=partners"},
			},
			ReturnTo: "/app?a=1&b=2", RememberMe: true, Remembered: true, RememberFor: "30 days", RequestID: "req-sample",
		},
		ChooserData{Title: "Sign in", Action: "/.portcullis/login"},
	},
	landing:  {LandingData{Next: "/app?a=1&b=2"}, LandingData{Next: "https://app.example.com/"}},
	signOut:  {SignOutData{Title: "Sign out", Action: "/.portcullis/logout", Everywhere: true, RequestID: "req-sample"}, SignOutData{Title: "Sign out", Action: "/.portcullis/logout"}},
	redirect: {RedirectData{Target: "https://idp.example.com/logout?id_token_hint=a.b.c&client_id=gw"}},
	errorPage: {
		ErrorData{Status: 401, Title: "Unauthorized", Message: "Sign in to continue.", RequestID: "req-sample"},
		ErrorData{Status: 500, Title: "Internal Server Error"},
	},
}
