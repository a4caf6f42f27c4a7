// Command demo runs the function end to end on a local stack, with no AWS
// account: it starts dynalite, versitygw and the Lambda Runtime Interface
// Emulator, creates and fills a demo table, invokes the real bootstrap with
// the seed's example config wrapped in the orchestrator's envelope, prints
// the output and the first lines of the manifest, and stops the stack.
//
// Usage: go run ./cmd/demo [-items N] (or make demo).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/testenv"
)

func main() {
	items := flag.Int("items", 3000, "items to write for the demo user")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *items); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, n int) error {
	fmt.Println("starting dynalite, versitygw and the Lambda emulator on 127.0.0.1 ...")
	stack, err := testenv.Start()
	if err != nil {
		return err
	}
	defer stack.Stop()
	fn, err := stack.StartLambda("AWS_LAMBDA_FUNCTION_TIMEOUT=120")
	if err != nil {
		return err
	}
	table, bucket := "MyDataTable", "my-allma-data-bucket"
	if err := stack.CreateTable(ctx, testenv.Table{Name: table, HashKey: "PK", RangeKey: "SK"}); err != nil {
		return err
	}
	if err := stack.CreateBucket(ctx, bucket, true); err != nil {
		return err
	}
	fmt.Printf("writing %d items for USER#123 (and some for other users) to %s ...\n", n, table)
	if err := stack.PutItems(ctx, table, demoItems(n)); err != nil {
		return err
	}
	event := testenv.SeedEnvelope(table, bucket, "demo-"+time.Now().UTC().Format("20060102T150405"), "123")
	payload, _ := json.Marshal(event)
	fmt.Println("invoking the function through the emulator with the seed's example (orchestrator envelope) ...")
	start := time.Now()
	reply, err := fn.Invoke(ctx, payload)
	if err != nil {
		return fmt.Errorf("%v\n%s", err, stack.Log("lambda"))
	}
	fmt.Printf("\noutput (%s):\n%s\n", time.Since(start).Round(time.Millisecond), reply)
	var out struct {
		OutputData struct {
			Manifest struct {
				Pointer struct{ Bucket, Key string } `json:"_s3_output_pointer"`
			} `json:"manifest"`
		} `json:"outputData"`
		ErrorType string `json:"errorType"`
	}
	if err := json.Unmarshal(reply, &out); err != nil || out.ErrorType != "" {
		return fmt.Errorf("the function failed: %s", reply)
	}
	p := out.OutputData.Manifest.Pointer
	body, err := stack.GetObject(ctx, p.Bucket, p.Key)
	if err != nil {
		return err
	}
	lines := strings.SplitAfter(string(body), "\n")
	fmt.Printf("\nfirst lines of s3://%s/%s (%d bytes, %d lines):\n", p.Bucket, p.Key, len(body), len(lines)-1)
	for _, l := range lines[:min(5, len(lines))] {
		fmt.Print(l)
	}
	fmt.Println("\nstopping the stack.")
	return nil
}

// demoItems makes n varied items for USER#123 and a few for other users.
func demoItems(n int) []map[string]types.AttributeValue {
	statuses := []string{"NEW", "PAID", "SHIPPED", "RETURNED"}
	var items []map[string]types.AttributeValue
	for i := range n + 50 {
		user := "123"
		if i >= n {
			user = fmt.Sprint(900 + i%5)
		}
		item := map[string]types.AttributeValue{
			"PK":     &types.AttributeValueMemberS{Value: "USER#" + user},
			"SK":     &types.AttributeValueMemberS{Value: fmt.Sprintf("ORDER#%06d", i)},
			"status": &types.AttributeValueMemberS{Value: statuses[i%len(statuses)]},
			"total":  &types.AttributeValueMemberN{Value: fmt.Sprintf("%d.%02d", 10+i*7%990, i%97+1)},
			"bigId":  &types.AttributeValueMemberN{Value: fmt.Sprintf("9007199254740%04d", 993+i)},
			"gift":   &types.AttributeValueMemberBOOL{Value: i%5 == 0},
			"tags":   &types.AttributeValueMemberSS{Value: []string{"demo", statuses[(i+1)%len(statuses)]}},
			"lines": &types.AttributeValueMemberL{Value: []types.AttributeValue{
				&types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
					"sku": &types.AttributeValueMemberS{Value: fmt.Sprintf("SKU-%03d", i%300)},
					"qty": &types.AttributeValueMemberN{Value: fmt.Sprint(1 + i%4)},
				}},
			}},
		}
		if i%3 == 0 {
			item["note"] = &types.AttributeValueMemberS{Value: "naïve café ☕ \"quoted\""}
		}
		if i%7 == 0 {
			item["coupon"] = &types.AttributeValueMemberNULL{Value: true}
		}
		items = append(items, item)
	}
	return items
}
