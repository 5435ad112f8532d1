# Test helper programs (never installed). Include from the top Makefile:
#     include tests/tools/tools.mk
# and let `integration` depend on `tools`, passing
#     SPARKSHIM_TOOLS=$(abspath $(BUILD)/tools)
# to pytest. Until then: make -f Makefile -f tests/tools/tools.mk tools
TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOL_BINS := $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(TOOL_SRCS))

.PHONY: tools
tools: $(TOOL_BINS)

$(BUILD)/tools/%: tests/tools/%.c $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@echo "  CCLD    $@"
	$(Q)$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
