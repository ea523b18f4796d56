package cluster

import "testing"

// TestChartValuesMerge: a changed value for one service keeps the image the
// first values set for it (the upgrade in TestChart changes only LOG_LEVEL).
func TestChartValuesMerge(t *testing.T) {
	vals, err := chartValues(map[string]string{"example.com/services/todo-api": "registry.example/todo-api@sha256:abc"}, "todoApi: {env: {LOG_LEVEL: debug}}\n")
	if err != nil {
		t.Fatal(err)
	}
	todo, _ := vals["todoApi"].(map[string]any)
	if got := todo["image"]; got != "registry.example/todo-api@sha256:abc" {
		t.Errorf("todoApi.image = %v, want the image the first values set", got)
	}
	env, _ := todo["env"].(map[string]any)
	if got := env["LOG_LEVEL"]; got != "debug" {
		t.Errorf("todoApi.env.LOG_LEVEL = %v, want debug", got)
	}
	if aws, _ := vals["aws"].(map[string]any); aws["sesSender"] == nil {
		t.Errorf("aws.sesSender lost: %v", vals["aws"])
	}
}
