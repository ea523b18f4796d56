package mototest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"slices"
	"strings"
	"time"
)

// Email is an email moto's SES sent, read as a mail client reads it.
type Email struct {
	// To are its destinations.
	To []string
	// Subject is decoded (RFC 2047); ListUnsubscribe is the header as sent.
	Subject, ListUnsubscribe string
	// Parts maps a part's media type (text/plain, text/html) to its decoded content;
	// a Simple message (not raw) has its body under "simple".
	Parts map[string]string
}

// SentEmails returns the emails moto at ep has sent (all regions together), in the
// order they were sent, raw messages parsed (one that does not parse has its raw text
// under Parts["unparsed"]), read through ModelData.
func SentEmails(ep string) ([]Email, error) {
	var data struct {
		SES struct {
			Message []struct {
				Destinations map[string][]string `json:"destinations"`
				Subject      string              `json:"subject"`
				Body         string              `json:"body"`
			} `json:"Message"`
			RawMessage []struct {
				Destinations []string `json:"destinations"`
				RawData      string   `json:"raw_data"`
			} `json:"RawMessage"`
		} `json:"ses"`
	}
	if err := ModelData(ep, &data); err != nil {
		return nil, fmt.Errorf("moto's sent emails: %w", err)
	}
	var out []Email
	for _, m := range data.SES.RawMessage {
		e, err := ParseEmail(m.RawData)
		if err != nil {
			// Another client of a shared moto may send anything: keep it, unread.
			e = Email{Parts: map[string]string{"unparsed": m.RawData}}
		}
		e.To = m.Destinations
		out = append(out, e)
	}
	for _, m := range data.SES.Message {
		out = append(out, Email{To: m.Destinations["ToAddresses"], Subject: m.Subject, Parts: map[string]string{"simple": m.Body}})
	}
	return out, nil
}

// EmailsTo keeps the emails sent to address.
func EmailsTo(all []Email, address string) []Email {
	var out []Email
	for _, e := range all {
		if slices.Contains(e.To, address) {
			out = append(out, e)
		}
	}
	return out
}

// ModelData decodes moto's whole state (/moto-api/data.json, where tests read the
// emails SES sent) into v. moto 5.2 answers that page 500 now and then: while other
// requests change its state, and once for each multipart part it keeps without a bucket
// (parts of uploads to a bucket deleted since, which any test sharing the moto_server
// may leave), each failure clearing one such part. So it is read again until it
// answers, for up to a minute: in make test one moto serves every package at once, its
// state is large (each read takes up to a second) and the orphan parts can be dozens.
func ModelData(ep string, v any) error {
	deadline := time.Now().Add(time.Minute)
	for {
		err := getJSON(ep+"/moto-api/data.json", v)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// ParseEmail reads a raw MIME email: its Subject, List-Unsubscribe, and the decoded
// content of each part of its multipart body (or of its single body).
func ParseEmail(raw string) (Email, error) {
	m, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		return Email{}, fmt.Errorf("not an email: %w", err)
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	e := Email{Subject: subject, ListUnsubscribe: m.Header.Get("List-Unsubscribe"), Parts: map[string]string{}}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		return Email{}, fmt.Errorf("email Content-Type: %w", err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		b, err := io.ReadAll(decoded(m.Body, m.Header.Get("Content-Transfer-Encoding")))
		e.Parts[mt] = string(b)
		return e, err
	}
	r := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := r.NextRawPart()
		if errors.Is(err, io.EOF) {
			return e, nil
		}
		if err != nil {
			return Email{}, fmt.Errorf("email part: %w", err)
		}
		pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		b, err := io.ReadAll(decoded(p, p.Header.Get("Content-Transfer-Encoding")))
		if err != nil {
			return Email{}, fmt.Errorf("email part %s: %w", pt, err)
		}
		e.Parts[pt] = string(b)
	}
}

func decoded(r io.Reader, transferEncoding string) io.Reader {
	if strings.EqualFold(transferEncoding, "quoted-printable") {
		return quotedprintable.NewReader(r)
	}
	return r
}
