package main

import (
	"context"
	"errors"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// networkCookies returns the value of the browser's console session cookie.
func networkCookies(ctx context.Context, t *chromedp.Target) (string, error) {
	res, err := cdp.Call(ctx, t, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		return "", err
	}
	for _, c := range res.Cookies {
		if c.Name == "otos_console" {
			return c.Value, nil
		}
	}
	return "", errors.New("no console session cookie in the browser")
}
