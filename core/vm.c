#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/mount.h>

#include "core/config.h"
#include "core/layout.h"
#include "core/vm.h"
#include "lib/log.h"

#define RAM_NAME	"hyve-ram"	/* what audits and benches look for */

/* An upgrade's new core: the old one's RAM, which must be this size. */
static int
adopt_ram(int fd, uint64_t size)
{
	struct stat st;

	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != size) {
		hlog("guest RAM: the file handed over is not %llu MiB",
		    (unsigned long long)(size >> 20));
		close(fd);
		return -EINVAL;
	}
	return fd;
}

/*
 * A file on a tmpfs mounted for this VM alone and attached nowhere, with
 * huge=within_size: 2 MiB pages whatever the host's shmem_enabled says
 * (Debian's default, never, gives a memfd none).  Such a file cannot be
 * sealed; the backends guard their mappings of it.  Mounting needs
 * CAP_SYS_ADMIN, which the core has until it becomes the tenant.
 */
static int
ram_tmpfs(void)
{
	int fs, mnt, fd = -1;

	if ((fs = (int)syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC)) < 0)
		return -errno;
	/* size=0: no limit but memory, as for a memfd. */
	if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "huge",
	    "within_size", NULL, 0) < 0 || syscall(SYS_fsconfig, fs,
	    FSCONFIG_SET_STRING, "size", "0", NULL, 0) < 0 ||
	    syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0 ||
	    (mnt = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC,
	    MOUNT_ATTR_NOEXEC | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)) < 0) {
		fd = -errno;
		close(fs);
		return fd;
	}
	close(fs);
	fd = openat(mnt, RAM_NAME, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600);
	if (fd < 0 || unlinkat(mnt, RAM_NAME, 0) < 0) {
		int e = -errno;

		if (fd >= 0)
			close(fd);
		fd = e;
	}
	close(mnt);
	return fd;
}

/* One sealed memfd, so backends can map exactly this and nothing more. */
static int
ram_memfd(void)
{
	int fd = memfd_create(RAM_NAME, MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		hlog("guest RAM: memfd_create: %s", strerror(errno));
	return fd < 0 ? -errno : fd;
}

/*
 * Huge pages unless memory.huge_pages=false, or the RAM is a restore's
 * that a userfaultfd fills: khugepaged could otherwise make a 2 MiB page
 * of a range that still has holes, and the guest would read zeros where
 * the snapshot has data without a fault to fill them.
 */
static int
ram_open(bool *huge)
{
	const char *set = config_get("memory.huge_pages");
	bool lazy;
	int fd;

	if (config_get_bool("memory.huge_pages", true, huge) < 0 ||
	    config_get_bool("memory.lazy_restore", true, &lazy) < 0)
		return -EINVAL;
	if (config_get("restore") != NULL && lazy)
		*huge = false;
	if (!*huge)
		return ram_memfd();
	if ((fd = ram_tmpfs()) >= 0)
		return fd;
	hlog("guest RAM: cannot mount a tmpfs with 2 MiB pages for it: %s%s",
	    strerror(-fd), set != NULL ? "; run hyve as root, or drop "
	    "memory.huge_pages=true" : "; it gets 4 KiB pages unless "
	    "shmem_enabled allows more (README)");
	return set != NULL ? fd : ram_memfd();
}

/* Guest RAM of this size, which the backends will map too. */
static int
ram_file(uint64_t size, bool *huge)
{
	int fd, seals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

	if ((fd = ram_open(huge)) < 0)
		return fd;
	if (ftruncate(fd, size) < 0) {
		int e = errno;
		hlog("guest RAM: cannot size %llu MiB: %s",
		    (unsigned long long)(size >> 20), strerror(e));
		close(fd);
		return -e;
	}
	/* A tmpfs file says F_SEAL_SEAL: it is sealed against sealing. */
	if ((fcntl(fd, F_GET_SEALS) & F_SEAL_SEAL) == 0 &&
	    fcntl(fd, F_ADD_SEALS, seals) < 0) {
		int e = errno;
		hlog("guest RAM: sealing the memfd: %s", strerror(e));
		close(fd);
		return -e;
	}
	return fd;
}

static int
vm_alloc_ram(struct vm *vm, uint64_t size, int fd)
{
	bool huge = true, adopted = fd >= 0;

	vm->lowmem = size < LOWMEM_LIMIT ? size : LOWMEM_LIMIT;
	vm->highmem = size - vm->lowmem;
	/* 64-bit PCI window: above high RAM, 1 GiB aligned. */
	vm->mmio64_base = (HIGHMEM_BASE + vm->highmem + GB(1) - 1) & ~(GB(1) - 1);

	if (fd >= 0 && (fd = adopt_ram(fd, size)) < 0)
		return fd;
	if (fd < 0 && (fd = ram_file(size, &huge)) < 0)
		return fd;
	vm->mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED |
	    MAP_NORESERVE, fd, 0);
	if (vm->mem == MAP_FAILED) {
		int e = errno;
		hlog("guest RAM: mmap of %llu MiB: %s",
		    (unsigned long long)(size >> 20), strerror(e));
		vm->mem = NULL;
		close(fd);
		return -e;
	}
	/* A memfd gets 2 MiB pages where shmem_enabled is advise, unless
	 * they were turned down or are unsafe (ram_open).  The old core
	 * chose for adopted RAM; its advice went with its mapping. */
	if (!adopted)
		madvise(vm->mem, size, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	vm->mem_fd = fd;
	vm->mem_size = size;
	return 0;
}

static void
vm_init_common(struct vm *vm, const char *name)
{
	memset(vm, 0, sizeof(*vm));
	vm->name = name;
	vm->kvm_fd = vm->vm_fd = vm->mem_fd = vm->exit_fd = -1;
	vm->ncpus = vm->sockets = vm->cores = vm->threads = 1;
	vm->strictmsr = true;
	bus_init(&vm->pio, "port");
	bus_init(&vm->mmio, "mmio");
	pthread_mutex_init(&vm->dev_lock, NULL);
}

int
vm_create_nokvm(struct vm *vm, const char *name, uint64_t mem_size)
{
	int rc;

	vm_init_common(vm, name);
	if ((rc = vm_alloc_ram(vm, mem_size, -1)) < 0)
		return rc;
	return 0;
}

static int
vm_set_region(struct vm *vm, int slot, uint64_t gpa, uint64_t size, void *hva)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};

	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
		hlog("KVM_SET_USER_MEMORY_REGION slot %d: %s", slot, strerror(errno));
		return -errno;
	}
	return 0;
}

static int
vm_check_caps(struct vm *vm)
{
	static const struct { int cap; const char *name; } caps[] = {
		{ KVM_CAP_IRQCHIP, "in-kernel irqchip" },
		{ KVM_CAP_PIT2, "in-kernel PIT" },
		{ KVM_CAP_IRQFD, "irqfd" },
		{ KVM_CAP_IOEVENTFD, "ioeventfd" },
		{ KVM_CAP_IRQ_ROUTING, "GSI routing" },
		{ KVM_CAP_USER_MEMORY, "user memory" },
		{ KVM_CAP_IMMEDIATE_EXIT, "immediate exit" },
	};
	size_t i;

	for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, caps[i].cap) <= 0) {
			hlog("/dev/kvm: this kernel's KVM lacks %s, which hyve needs",
			    caps[i].name);
			return -ENOTSUP;
		}
	}
	return 0;
}

int
vm_create(struct vm *vm, const char *name, uint64_t mem_size)
{
	return vm_create_from(vm, name, mem_size, -1, -1);
}

int
vm_create_from(struct vm *vm, const char *name, uint64_t mem_size,
    int kvm_fd, int mem_fd)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	int rc, ver;

	vm_init_common(vm, name);
	vm->kvm_fd = kvm_fd >= 0 ? kvm_fd : open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		rc = -errno;
		hlog("/dev/kvm: %s (is KVM enabled, and may this user open it?)",
		    strerror(errno));
		return rc;
	}
	ver = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (ver != KVM_API_VERSION) {
		hlog("/dev/kvm: API version %d, hyve needs %d", ver, KVM_API_VERSION);
		return -ENOTSUP;
	}
	if ((rc = vm_check_caps(vm)) < 0)
		return rc;
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		rc = -errno;
		hlog("KVM_CREATE_VM: %s", strerror(errno));
		return rc;
	}
	if ((rc = vm_alloc_ram(vm, mem_size, mem_fd)) < 0)
		return rc;
	if ((rc = vm_set_region(vm, 0, 0, vm->lowmem, vm->mem)) < 0)
		return rc;
	if (vm->highmem > 0 && (rc = vm_set_region(vm, 1, HIGHMEM_BASE,
	    vm->highmem, vm->mem + vm->lowmem)) < 0)
		return rc;
	/* VT-x needs three pages for its real-mode TSS and an identity map. */
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000UL) < 0)
		hlog("KVM_SET_TSS_ADDR: %s (ignored)", strerror(errno));
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		rc = -errno;
		hlog("KVM_CREATE_IRQCHIP: %s", strerror(errno));
		return rc;
	}
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		rc = -errno;
		hlog("KVM_CREATE_PIT2: %s", strerror(errno));
		return rc;
	}
	vm->exit_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->exit_fd < 0)
		return -errno;
	return 0;
}

void
vm_destroy(struct vm *vm)
{
	if (vm->mem != NULL)
		munmap(vm->mem, vm->mem_size);
	if (vm->mem_fd >= 0)
		close(vm->mem_fd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->exit_fd >= 0)
		close(vm->exit_fd);
	bus_free(&vm->pio);
	bus_free(&vm->mmio);
	vm->mem = NULL;
	vm->mem_fd = vm->vm_fd = vm->kvm_fd = vm->exit_fd = -1;
}

void *
vm_gpa(struct vm *vm, uint64_t gpa, uint64_t len)
{
	if (gpa + len < gpa)
		return NULL;
	if (gpa + len <= vm->lowmem)
		return vm->mem + gpa;
	if (gpa >= HIGHMEM_BASE && gpa - HIGHMEM_BASE <= vm->highmem &&
	    len <= vm->highmem - (gpa - HIGHMEM_BASE))
		return vm->mem + vm->lowmem + (gpa - HIGHMEM_BASE);
	return NULL;
}

int
vm_write(struct vm *vm, uint64_t gpa, const void *src, uint64_t len)
{
	void *p = vm_gpa(vm, gpa, len);

	if (p == NULL) {
		hlog("guest range 0x%llx+0x%llx is not RAM",
		    (unsigned long long)gpa, (unsigned long long)len);
		return -EFAULT;
	}
	memcpy(p, src, len);
	return 0;
}

int
vm_irq_line(struct vm *vm, unsigned gsi, int level)
{
	struct kvm_irq_level irq = { .irq = gsi, .level = level };

	if (gsi >= IOAPIC_PINS)
		return -EINVAL;
	vm->irq_level[gsi] = level;
	if (vm->vm_fd < 0)
		return 0;
	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
		return -errno;
	return 0;
}

int
vm_irq_pulse(struct vm *vm, unsigned gsi)
{
	int rc;

	if ((rc = vm_irq_line(vm, gsi, 1)) < 0)
		return rc;
	return vm_irq_line(vm, gsi, 0);
}

void
vm_request_exit(struct vm *vm, int code, const char *why)
{
	uint64_t one = 1;

	if (__atomic_exchange_n(&vm->exiting, 1, __ATOMIC_SEQ_CST))
		return;
	vm->exit_code = code;
	hlog("%s: exit %d (%s)", vm->name, code, why);
	if (vm->exit_fd >= 0 && write(vm->exit_fd, &one, sizeof(one)) < 0)
		hlog("exit eventfd: %s", strerror(errno));
}

int
vm_register_pio(struct vm *vm, uint16_t base, uint16_t len, bus_handler_t fn,
    void *opaque, const char *name)
{
	return bus_register(&vm->pio, base, len, fn, opaque, name);
}

int
vm_register_mmio(struct vm *vm, uint64_t base, uint64_t len, bus_handler_t fn,
    void *opaque, const char *name)
{
	return bus_register(&vm->mmio, base, len, fn, opaque, name);
}
