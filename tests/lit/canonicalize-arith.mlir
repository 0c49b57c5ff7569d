// RUN: canonicalize

// x * 1, 1 * x, x - 0.0 and x + -0.0 are x; x + 0.0 is not (-0.0 + 0.0 is +0.0).
// CHECK-LABEL: func.func @identities
// CHECK: [[ADD:%\d+]] = "tir.add"(%arg0, [[ZERO:%\d+]])
// CHECK-NOT: "tir.mul"
// CHECK-NOT: "tir.sub"
// CHECK: "func.return"(%arg0, %arg0, %arg0, %arg0, [[ADD]])
func.func @identities(%arg0: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) {
  %0 = "tir.constant"() {value = dense<1.0> : tensor<4xf32>} : () -> tensor<4xf32>
  %1 = "tir.mul"(%arg0, %0) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %2 = "tir.mul"(%0, %arg0) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %3 = "tir.constant"() {value = dense<0.0> : tensor<4xf32>} : () -> tensor<4xf32>
  %4 = "tir.sub"(%arg0, %3) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %5 = "tir.constant"() {value = dense<-0.0> : tensor<4xf32>} : () -> tensor<4xf32>
  %6 = "tir.add"(%5, %arg0) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %7 = "tir.add"(%arg0, %3) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  "func.return"(%1, %2, %4, %6, %7) : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> ()
}

// -----

// Integers: x + 0, x - x, x * 0 fold; x - x stays for floats (inf - inf is NaN).
// CHECK-LABEL: func.func @integers
// CHECK: [[Z:%\d+]] = "tir.constant"() {value = dense<0> : tensor<4xi32>}
// CHECK-NEXT: [[Y:%\d+]] = "tir.constant"() {value = dense<0> : tensor<4xi32>}
// CHECK-NEXT: "func.return"(%arg0, [[Y]], [[Z]])
func.func @integers(%arg0: tensor<4xi32>) -> (tensor<4xi32>, tensor<4xi32>, tensor<4xi32>) {
  %0 = "tir.constant"() {value = dense<0> : tensor<4xi32>} : () -> tensor<4xi32>
  %1 = "tir.add"(%0, %arg0) : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
  %2 = "tir.sub"(%arg0, %arg0) : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
  %3 = "tir.mul"(%arg0, %0) : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
  "func.return"(%1, %2, %3) : (tensor<4xi32>, tensor<4xi32>, tensor<4xi32>) -> ()
}

// -----

// CHECK-LABEL: func.func @float_self_sub
// CHECK: "tir.sub"(%arg0, %arg0)
// CHECK: "tir.mul"(%arg0, {{%\d+}})
func.func @float_self_sub(%arg0: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %0 = "tir.sub"(%arg0, %arg0) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %1 = "tir.constant"() {value = dense<0.0> : tensor<4xf32>} : () -> tensor<4xf32>
  %2 = "tir.mul"(%arg0, %1) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  "func.return"(%0, %2) : (tensor<4xf32>, tensor<4xf32>) -> ()
}

// -----

// (a * b) / b is never a for floats: b may be 0, inf or NaN, and a * b may round.
// CHECK-LABEL: func.func @no_mul_div_cancel
// CHECK: [[P:%\d+]] = "tir.mul"(%arg0, %arg1)
// CHECK-NEXT: [[Q:%\d+]] = "tir.div"([[P]], %arg1)
// CHECK-NEXT: "func.return"([[Q]])
func.func @no_mul_div_cancel(%arg0: tensor<4xf32>, %arg1: tensor<4xf32>) -> tensor<4xf32> {
  %0 = "tir.mul"(%arg0, %arg1) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %1 = "tir.div"(%0, %arg1) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  "func.return"(%1) : (tensor<4xf32>) -> ()
}

// -----

// -(-x), ~~x, |-x|, ||x||, x * -1, x + -y, x - -y
// CHECK-LABEL: func.func @signs
// CHECK: [[A:%\d+]] = "tir.abs"(%arg0)
// CHECK-NEXT: [[B:%\d+]] = "tir.abs"(%arg0)
// CHECK-NEXT: [[N:%\d+]] = "tir.neg"(%arg0)
// CHECK-NEXT: [[S:%\d+]] = "tir.sub"(%arg0, %arg0)
// CHECK-NEXT: [[T:%\d+]] = "tir.add"(%arg0, %arg0)
// CHECK-NEXT: "func.return"(%arg0, %arg1, [[A]], [[B]], [[N]], [[S]], [[T]])
func.func @signs(%arg0: tensor<4xf32>, %arg1: tensor<4xi8>) -> (tensor<4xf32>, tensor<4xi8>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) {
  %0 = "tir.neg"(%arg0) : (tensor<4xf32>) -> tensor<4xf32>
  %1 = "tir.neg"(%0) : (tensor<4xf32>) -> tensor<4xf32>
  %2 = "tir.not"(%arg1) : (tensor<4xi8>) -> tensor<4xi8>
  %3 = "tir.not"(%2) : (tensor<4xi8>) -> tensor<4xi8>
  %4 = "tir.abs"(%0) : (tensor<4xf32>) -> tensor<4xf32>
  %5 = "tir.abs"(%arg0) : (tensor<4xf32>) -> tensor<4xf32>
  %6 = "tir.abs"(%5) : (tensor<4xf32>) -> tensor<4xf32>
  %7 = "tir.constant"() {value = dense<-1.0> : tensor<4xf32>} : () -> tensor<4xf32>
  %8 = "tir.mul"(%7, %arg0) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %9 = "tir.add"(%0, %arg0) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %10 = "tir.sub"(%arg0, %0) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  "func.return"(%1, %3, %4, %6, %8, %9, %10) : (tensor<4xf32>, tensor<4xi8>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> ()
}

// -----

// x / 4 -> x * 0.25 (exact); x / 3 stays (1/3 is not exact); x / 2^-149 stays (2^149 overflows)
// CHECK-LABEL: func.func @division
// CHECK: [[Q:%\d+]] = "tir.constant"() {value = dense<0.25> : tensor<4xf32>}
// CHECK-NEXT: "tir.mul"(%arg0, [[Q]])
// CHECK: "tir.div"(%arg0, {{%\d+}})
// CHECK: "tir.div"(%arg0, {{%\d+}})
func.func @division(%arg0: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) {
  %0 = "tir.constant"() {value = dense<4.0> : tensor<4xf32>} : () -> tensor<4xf32>
  %1 = "tir.div"(%arg0, %0) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %2 = "tir.constant"() {value = dense<3.0> : tensor<4xf32>} : () -> tensor<4xf32>
  %3 = "tir.div"(%arg0, %2) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %4 = "tir.constant"() {value = dense<1.0e-45> : tensor<4xf32>} : () -> tensor<4xf32>
  %5 = "tir.div"(%arg0, %4) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  "func.return"(%1, %3, %5) : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> ()
}

// -----

// Division by a non-splat constant of powers of two: each element's exact reciprocal.
// CHECK-LABEL: func.func @division_dense
// CHECK: "tir.constant"() {value = dense<[0.5, -0.25, 8.0, 1.0]> : tensor<4xf64>}
// CHECK-NEXT: "tir.mul"
func.func @division_dense(%arg0: tensor<4xf64>) -> tensor<4xf64> {
  %0 = "tir.constant"() {value = dense<[2.0, -4.0, 0.125, 1.0]> : tensor<4xf64>} : () -> tensor<4xf64>
  %1 = "tir.div"(%arg0, %0) : (tensor<4xf64>, tensor<4xf64>) -> tensor<4xf64>
  "func.return"(%1) : (tensor<4xf64>) -> ()
}

// -----

// Strength reduction: x**2 -> x*x, x**1 -> x, x**0 -> 1, x**0.5 -> |sqrt(x)| with pow's -inf.
// CHECK-LABEL: func.func @powers
// CHECK-NOT: "tir.pow"
// CHECK: [[SQ:%\d+]] = "tir.mul"(%arg0, %arg0)
// CHECK: [[R:%\d+]] = "tir.sqrt"(%arg0)
// CHECK-NEXT: [[A:%\d+]] = "tir.abs"([[R]])
// CHECK: [[H:%\d+]] = "tir.select"({{%\d+}}, {{%\d+}}, [[A]])
// CHECK: [[ONE:%\d+]] = "tir.constant"() {value = dense<1.0> : tensor<4xf32>}
// CHECK-NOT: "tir.pow"
// CHECK: "func.return"([[SQ]], [[H]], %arg0, [[ONE]])
func.func @powers(%arg0: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) {
  %0 = "tir.constant"() {value = dense<2.0> : tensor<4xf32>} : () -> tensor<4xf32>
  %1 = "tir.pow"(%arg0, %0) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %2 = "tir.constant"() {value = dense<0.5> : tensor<4xf32>} : () -> tensor<4xf32>
  %3 = "tir.pow"(%arg0, %2) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %4 = "tir.constant"() {value = dense<1.0> : tensor<4xf32>} : () -> tensor<4xf32>
  %5 = "tir.pow"(%arg0, %4) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %6 = "tir.constant"() {value = dense<0.0> : tensor<4xf32>} : () -> tensor<4xf32>
  %7 = "tir.pow"(%arg0, %6) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  "func.return"(%1, %3, %5, %7) : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> ()
}

// -----

// x ** 3 stays a pow.
// CHECK-LABEL: func.func @cube
// CHECK: "tir.pow"
func.func @cube(%arg0: tensor<4xi64>) -> tensor<4xi64> {
  %0 = "tir.constant"() {value = dense<3> : tensor<4xi64>} : () -> tensor<4xi64>
  %1 = "tir.pow"(%arg0, %0) : (tensor<4xi64>, tensor<4xi64>) -> tensor<4xi64>
  "func.return"(%1) : (tensor<4xi64>) -> ()
}

// -----

// select with a constant condition, or with equal branches
// CHECK-LABEL: func.func @selects
// CHECK-NOT: "tir.select"
// CHECK: "func.return"(%arg0, %arg1, %arg1)
func.func @selects(%arg0: tensor<4xf32>, %arg1: tensor<4xf32>, %arg2: tensor<4xi1>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) {
  %0 = "tir.constant"() {value = dense<true> : tensor<4xi1>} : () -> tensor<4xi1>
  %1 = "tir.select"(%0, %arg0, %arg1) : (tensor<4xi1>, tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %2 = "tir.constant"() {value = dense<false> : tensor<4xi1>} : () -> tensor<4xi1>
  %3 = "tir.select"(%2, %arg0, %arg1) : (tensor<4xi1>, tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %4 = "tir.select"(%arg2, %arg1, %arg1) : (tensor<4xi1>, tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  "func.return"(%1, %3, %4) : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> ()
}
