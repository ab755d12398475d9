/*
 * Boot and CPL 0 code of the test guest.  PVH enters _start32 in 32-bit
 * protected mode; we load our GDT, enter long mode with the static page
 * tables below, load a TSS and the IDT and iretq to CPL 3 with IOPL 3.
 * APs come in through the real-mode trampoline (copied to 0x30000) and join
 * at ap_start32.  Everything here runs emulated on kvm_pvm: keep it short.
 */
#define MAX_CPUS	16
#define KSTACK		4096
#define USTACK		16384
#define SEL_KCODE	0x08
#define SEL_KDATA	0x10
#define SEL_UCODE	0x1b
#define SEL_UDATA	0x23
#define SEL_KCODE32	0x28
#define SEL_TSS		0x30
#define USER_RFLAGS	0x3002		/* IOPL 3, IF 0 */

	.section .note.Xen, "a"
	.balign 4
	.long 4			/* namesz */
	.long 8			/* descsz */
	.long 18		/* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.balign 4
	.quad _start32

	.section .text.boot, "ax"
	.code32
	.globl _start32
_start32:
	cli
	movl	%ebx, boot_info_ptr
	lgdtl	gdt_ptr
	ljmpl	$SEL_KCODE32, $ap_start32

	.globl ap_start32
ap_start32:
	movw	$SEL_KDATA, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movw	%ax, %fs
	movw	%ax, %gs
	movl	%cr4, %eax
	orl	$0x20, %eax		/* PAE */
	movl	%eax, %cr4
	movl	$pml4, %eax
	movl	%eax, %cr3
	movl	$0xc0000080, %ecx	/* EFER.LME */
	rdmsr
	orl	$0x100, %eax		/* LME */
	wrmsr
	movl	%cr0, %eax
	orl	$0x80000001, %eax	/* PG | PE */
	movl	%eax, %cr0
	ljmpl	$SEL_KCODE, $start64

	.code64
start64:
	movw	$SEL_KDATA, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	xorl	%eax, %eax
	movw	%ax, %fs
	movw	%ax, %gs
	movl	cpu_boot_index(%rip), %ebx
	cmpl	$MAX_CPUS, %ebx
	jae	dead
	/* kernel stack: kstacks + (cpu + 1) * KSTACK */
	leaq	kstacks(%rip), %rsp
	leaq	1(%rbx), %rax
	shlq	$12, %rax
	addq	%rax, %rsp
	/* this CPU's TSS: rsp0 and no I/O bitmap */
	leaq	tss(%rip), %rdx
	movq	%rbx, %rax
	shlq	$7, %rax
	addq	%rax, %rdx
	movq	%rsp, 4(%rdx)
	movw	$104, 102(%rdx)
	/* its 16-byte descriptor at SEL_TSS + cpu * 16 */
	movq	%rdx, %rax
	andq	$0xffffff, %rax
	shlq	$16, %rax
	orq	$103, %rax
	movq	$0x89, %rcx
	shlq	$40, %rcx
	orq	%rcx, %rax
	movq	%rdx, %rcx
	shrq	$24, %rcx
	andq	$0xff, %rcx
	shlq	$56, %rcx
	orq	%rcx, %rax
	leaq	gdt+SEL_TSS(%rip), %rcx
	movq	%rbx, %rdi
	shlq	$4, %rdi
	movq	%rax, (%rcx,%rdi)
	movq	$0, 8(%rcx,%rdi)
	leaq	SEL_TSS(%rdi), %rax
	ltr	%ax
	testl	%ebx, %ebx
	jnz	1f
	call	build_idt
1:	lidt	idt_ptr(%rip)
	/* user stack: ustacks + (cpu + 1) * USTACK - 8 */
	leaq	ustacks(%rip), %rcx
	leaq	1(%rbx), %rax
	shlq	$14, %rax
	leaq	-8(%rcx,%rax), %rcx
	leaq	guest_main(%rip), %rdx
	testl	%ebx, %ebx
	jz	2f
	leaq	ap_main(%rip), %rdx
2:	movl	%ebx, %edi
	pushq	$USER_RFLAGS
	popfq
	pushq	$SEL_UDATA
	pushq	%rcx
	pushq	$USER_RFLAGS
	pushq	$SEL_UCODE
	pushq	%rdx
	iretq

dead:
	cli
	hlt
	jmp	dead

/* 256 interrupt gates to the stubs; vector 0x80 callable from CPL 3. */
build_idt:
	leaq	idt(%rip), %rdi
	leaq	isr_stubs(%rip), %rsi
	xorl	%ecx, %ecx
1:	movl	%esi, %edx
	andl	$0xffff, %edx
	orl	$(SEL_KCODE << 16), %edx
	movl	%edx, (%rdi)
	movl	%esi, %edx
	andl	$0xffff0000, %edx
	orl	$0x8e00, %edx
	cmpl	$0x80, %ecx
	jne	2f
	orl	$0x6000, %edx
2:	movl	%edx, 4(%rdi)
	movq	$0, 8(%rdi)
	addq	$16, %rdi
	addq	$16, %rsi
	incl	%ecx
	cmpl	$256, %ecx
	jb	1b
	ret

	.balign 16
isr_stubs:
	.set v, 0
	.rept 256
	.balign 16
	.if (v == 8) || (v >= 10 && v <= 14) || (v == 17) || (v == 21) || (v == 29) || (v == 30)
	.else
	pushq	$0
	.endif
	pushq	$v
	jmp	isr_common
	.set v, v + 1
	.endr

/* Frame: 0 rdx, 8 rcx, 16 rax, 24 vector, 32 error, 40 rip, 48 cs, 56 rflags, 64 rsp, 72 ss */
isr_common:
	pushq	%rax
	pushq	%rcx
	pushq	%rdx
	movq	24(%rsp), %rax
	cmpq	$6, %rax
	jne	1f
	leaq	syscall_ud2(%rip), %rcx
	cmpq	%rcx, 40(%rsp)
	jne	1f
	addq	$2, 40(%rsp)
	jmp	syscall
1:	cmpq	$0x80, %rax
	je	syscall
	cmpq	$32, %rax
	jb	fault
	leaq	irq_count(%rip), %rcx
	lock incl (%rcx,%rax,4)
	cmpq	$0xff, %rax
	je	iret_out
	movl	$0xfee000b0, %ecx	/* LAPIC EOI */
	movl	$0, (%rcx)
iret_out:
	popq	%rdx
	popq	%rcx
	popq	%rax
	addq	$16, %rsp
	iretq

syscall:
	movq	16(%rsp), %rax
	cmpq	$0, %rax
	je	sys_hlt
	cmpq	$1, %rax
	je	sys_halt
	cmpq	$2, %rax
	je	sys_wrmsr
	cmpq	$3, %rax
	je	sys_rdmsr
	cmpq	$4, %rax
	je	sys_lidt0
	cmpq	$5, %rax
	je	sys_sti
	cmpq	$6, %rax
	je	sys_cli
	cmpq	$7, %rax
	je	sys_in
	cmpq	$8, %rax
	je	sys_outp
	movq	$-1, %rax
	jmp	sys_out
sys_hlt:
	sti
	hlt
	cli
	xorl	%eax, %eax
	jmp	sys_out
sys_halt:
	cli
	hlt
	jmp	sys_halt
sys_wrmsr:
	movl	%edi, %ecx
	movq	%rsi, %rax
	movq	%rsi, %rdx
	shrq	$32, %rdx
	wrmsr
	xorl	%eax, %eax
	jmp	sys_out
sys_rdmsr:
	movl	%edi, %ecx
	rdmsr
	shlq	$32, %rdx
	movl	%eax, %eax
	orq	%rdx, %rax
	jmp	sys_out
sys_lidt0:
	lidt	idt_empty(%rip)
	xorl	%eax, %eax
	jmp	sys_out
sys_sti:
	orq	$0x200, 56(%rsp)
	xorl	%eax, %eax
	jmp	sys_out
sys_cli:
	andq	$~0x200, 56(%rsp)
	xorl	%eax, %eax
	jmp	sys_out
sys_in:
	movl	%edi, %edx
	movl	%edi, %ecx
	shrl	$16, %ecx
	xorl	%eax, %eax
	cmpl	$1, %ecx
	jne	1f
	inb	%dx, %al
	jmp	sys_out
1:	cmpl	$2, %ecx
	jne	2f
	inw	%dx, %ax
	jmp	sys_out
2:	inl	%dx, %eax
	jmp	sys_out
sys_outp:
	movl	%edi, %edx
	movl	%edi, %ecx
	shrl	$16, %ecx
	movl	%esi, %eax
	cmpl	$1, %ecx
	jne	1f
	outb	%al, %dx
	jmp	2f
1:	cmpl	$2, %ecx
	jne	3f
	outw	%ax, %dx
	jmp	2f
3:	outl	%eax, %dx
2:	xorl	%eax, %eax
sys_out:
	movq	%rax, 16(%rsp)
	jmp	iret_out

/* An exception: record it and return to fault_entry at CPL 3. */
fault:
	movq	%rax, fault_vec(%rip)
	movq	32(%rsp), %rax
	movq	%rax, fault_err(%rip)
	movq	40(%rsp), %rax
	movq	%rax, fault_rip(%rip)
	movq	48(%rsp), %rax
	movq	%rax, fault_cs(%rip)
	movq	%cr2, %rax
	movq	%rax, fault_cr2(%rip)
	leaq	fault_entry(%rip), %rax
	movq	%rax, 40(%rsp)
	movq	$SEL_UCODE, 48(%rsp)
	movq	$USER_RFLAGS, 56(%rsp)
	leaq	fault_stack_top(%rip), %rax
	movq	%rax, 64(%rsp)
	movq	$SEL_UDATA, 72(%rsp)
	jmp	iret_out

/*
 * User side: long syscall2(nr, a, b).  kvm_pvm turns int $0x80 at CPL 3
 * into #UD and runs a syscall's target at CPL 3, but delivers exceptions
 * properly; so the call is a ud2 at this one address, which the #UD
 * handler recognises.  int $0x80 works too where the CPU is real.
 */
	.text
	.globl syscall2
syscall2:
	movq	%rdi, %rax
	movq	%rsi, %rdi
	movq	%rdx, %rsi
	.globl syscall_ud2
syscall_ud2:
	ud2
	ret

/* AP entry: copied to TRAMPOLINE (0x30000), started in real mode at CS=0x3000. */
	.code16
	.globl trampoline_start, trampoline_end
trampoline_start:
	cli
	movw	%cs, %ax
	movw	%ax, %ds
	lgdtl	(tramp_gdt_ptr - trampoline_start)
	movl	%cr0, %eax
	orl	$1, %eax
	movl	%eax, %cr0
	ljmpl	$SEL_KCODE32, $ap_start32
	.balign 4
tramp_gdt_ptr:
	.word	gdt_end - gdt - 1
	.long	gdt
trampoline_end:
	.code64

	.data
	.balign 16
gdt:
	.quad	0
	.quad	0x00af9a000000ffff	/* 0x08 kernel code 64 */
	.quad	0x00cf92000000ffff	/* 0x10 kernel data */
	.quad	0x00affa000000ffff	/* 0x18 user code 64 */
	.quad	0x00cff2000000ffff	/* 0x20 user data */
	.quad	0x00cf9a000000ffff	/* 0x28 kernel code 32 */
	.fill	MAX_CPUS * 2, 8, 0	/* 0x30 TSS descriptors */
gdt_end:
	.balign 16
gdt_ptr:
	.word	gdt_end - gdt - 1
	.quad	gdt
	.balign 16
idt_ptr:
	.word	256 * 16 - 1
	.quad	idt
	.balign 16
idt_empty:
	.word	0
	.quad	0

	.globl boot_info_ptr, cpu_boot_index
	.globl fault_vec, fault_err, fault_rip, fault_cs, fault_cr2
	.balign 8
boot_info_ptr:	.long 0
cpu_boot_index:	.long 0
fault_vec:	.quad 0
fault_err:	.quad 0
fault_rip:	.quad 0
fault_cs:	.quad 0
fault_cr2:	.quad 0

/* Identity map of 4 GiB, 2 MiB pages, user accessible; the PCI hole uncached. */
	.globl pdpt
	.balign 4096
pml4:
	.quad	pdpt + 0x7
	.fill	511, 8, 0
pdpt:
	.quad	pd + 0x7
	.quad	pd + 0x1007
	.quad	pd + 0x2007
	.quad	pd + 0x3007
	.fill	508, 8, 0
pd:
	.set i, 0
	.rept 2048
	.if i >= 0x600
	.quad	(i << 21) | 0x9f
	.else
	.quad	(i << 21) | 0x87
	.endif
	.set i, i + 1
	.endr

	.bss
	.globl irq_count
	.balign 4096
idt:		.fill 256 * 16, 1, 0
tss:		.fill MAX_CPUS * 128, 1, 0
irq_count:	.fill 256 * 4, 1, 0
	.balign 4096
kstacks:	.fill MAX_CPUS * KSTACK, 1, 0
ustacks:	.fill MAX_CPUS * USTACK, 1, 0
fault_stack:	.fill 8192, 1, 0
fault_stack_top:
/* Page directories for BARs above 4 GiB, filled by map_high() in pci.c. */
	.globl pd_high
	.balign 4096
pd_high:	.fill 4 * 4096, 1, 0
