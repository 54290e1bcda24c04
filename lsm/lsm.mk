# liblsm: every lsm/src/*.c goes into build/liblsm.a and build/liblsm.so (soname liblsm.so.0).
LSM_SRCS := $(wildcard lsm/src/*.c)
LSM_OBJS := $(LSM_SRCS:%.c=$(BUILD)/%.o)
LSM_CFLAGS := -Ilsm/include -Ilsm/src
LSM_LIBS := -llz4 -lpthread
LSM_SONAME := liblsm.so.0
LSM_A := $(BUILD)/liblsm.a
LSM_SO := $(BUILD)/liblsm.so.0.1.0

all: $(LSM_A) $(LSM_SO)

$(BUILD)/lsm/%.o: lsm/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LSM_CFLAGS) -c $< -o $@

$(LSM_A): $(LSM_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LSM_SO): $(LSM_OBJS)
	$(CC) -shared -Wl,-soname,$(LSM_SONAME) $(LDFLAGS) -o $@ $^ $(LSM_LIBS)
	ln -sf liblsm.so.0.1.0 $(BUILD)/liblsm.so.0
	ln -sf liblsm.so.0 $(BUILD)/liblsm.so
