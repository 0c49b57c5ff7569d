// RUN: canonicalize,cse,stabilize,canonicalize,cse

// Traced `np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True)`: the two exps merge, the
// keepdims reshape folds into the broadcast, and the max is subtracted first.
// CHECK-LABEL: func.func @softmax
// CHECK: [[M:%\d+]] = "tir.reduce_max"(%arg0) {axes = [1]}
// CHECK: [[D:%\d+]] = "tir.sub"(%arg0, {{%\d+}})
// CHECK-NEXT: [[E:%\d+]] = "tir.exp"([[D]])
// CHECK-NEXT: [[T:%\d+]] = "tir.reduce_sum"([[E]]) {axes = [1]}
// CHECK-NEXT: [[B:%\d+]] = "tir.broadcast"([[T]]) {shape = [2, 3], dims = [0]}
// CHECK-NEXT: "tir.div"([[E]], [[B]])
// CHECK-NOT: "tir.exp"
func.func @softmax(%arg0: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = "tir.exp"(%arg0) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %1 = "tir.exp"(%arg0) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %2 = "tir.reduce_sum"(%1) {axes = [1]} : (tensor<2x3xf32>) -> tensor<2xf32>
  %3 = "tir.reshape"(%2) {shape = [2, 1]} : (tensor<2xf32>) -> tensor<2x1xf32>
  %4 = "tir.broadcast"(%3) {shape = [2, 3], dims = [0, 1]} : (tensor<2x1xf32>) -> tensor<2x3xf32>
  %5 = "tir.div"(%0, %4) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  "func.return"(%5) : (tensor<2x3xf32>) -> ()
}

// -----

// Traced `np.log(softmax(x))`: (x - m) - log(sum(exp(x - m))), no division, no log of a ratio.
// CHECK-LABEL: func.func @log_softmax
// CHECK: [[D:%\d+]] = "tir.sub"(%arg0, {{%\d+}})
// CHECK-NEXT: [[E:%\d+]] = "tir.exp"([[D]])
// CHECK-NEXT: [[T:%\d+]] = "tir.reduce_sum"([[E]]) {axes = [1]}
// CHECK-NEXT: [[L:%\d+]] = "tir.log"([[T]])
// CHECK-NEXT: [[B:%\d+]] = "tir.broadcast"([[L]]) {shape = [2, 3], dims = [0]}
// CHECK-NEXT: "tir.sub"([[D]], [[B]])
// CHECK-NOT: "tir.div"
func.func @log_softmax(%arg0: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = "tir.exp"(%arg0) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %1 = "tir.exp"(%arg0) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %2 = "tir.reduce_sum"(%1) {axes = [1]} : (tensor<2x3xf32>) -> tensor<2xf32>
  %3 = "tir.reshape"(%2) {shape = [2, 1]} : (tensor<2xf32>) -> tensor<2x1xf32>
  %4 = "tir.broadcast"(%3) {shape = [2, 3], dims = [0, 1]} : (tensor<2x1xf32>) -> tensor<2x3xf32>
  %5 = "tir.div"(%0, %4) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %6 = "tir.log"(%5) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  "func.return"(%6) : (tensor<2x3xf32>) -> ()
}

// -----

// Traced `np.log(np.exp(x).sum(axis=-1, keepdims=True))`: the log moves above the keepdims
// reshape, which exposes log(sum(exp(x))).
// CHECK-LABEL: func.func @logsumexp_keepdims
// CHECK: [[M:%\d+]] = "tir.reduce_max"(%arg0) {axes = [1]}
// CHECK: [[S:%\d+]] = "tir.select"({{%\d+}}, [[M]], {{%\d+}})
// CHECK: [[L:%\d+]] = "tir.log"
// CHECK-NEXT: [[R:%\d+]] = "tir.add"([[S]], [[L]])
// CHECK-NEXT: "tir.reshape"([[R]]) {shape = [2, 1]}
func.func @logsumexp_keepdims(%arg0: tensor<2x3xf32>) -> tensor<2x1xf32> {
  %0 = "tir.exp"(%arg0) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %1 = "tir.reduce_sum"(%0) {axes = [1]} : (tensor<2x3xf32>) -> tensor<2xf32>
  %2 = "tir.reshape"(%1) {shape = [2, 1]} : (tensor<2xf32>) -> tensor<2x1xf32>
  %3 = "tir.log"(%2) : (tensor<2x1xf32>) -> tensor<2x1xf32>
  "func.return"(%3) : (tensor<2x1xf32>) -> ()
}

// -----

// Traced `np.log(1 / (1 + np.exp(-x)))`: -softplus(-x), no division, no log.
// CHECK-LABEL: func.func @log_sigmoid
// CHECK: [[N:%\d+]] = "tir.neg"(%arg0)
// CHECK: [[A:%\d+]] = "tir.abs"(%arg0)
// CHECK: "tir.log1p"
// CHECK: "tir.max"([[N]], {{%\d+}})
// CHECK-NOT: "tir.div"
// CHECK-NOT: "tir.log"(
func.func @log_sigmoid(%arg0: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = "tir.neg"(%arg0) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %1 = "tir.exp"(%0) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %2 = "tir.constant"() {value = dense<1.0> : tensor<2x3xf32>} : () -> tensor<2x3xf32>
  %3 = "tir.add"(%2, %1) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %4 = "tir.constant"() {value = dense<1.0> : tensor<2x3xf32>} : () -> tensor<2x3xf32>
  %5 = "tir.div"(%4, %3) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %6 = "tir.log"(%5) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  "func.return"(%6) : (tensor<2x3xf32>) -> ()
}

// -----

// Traced `np.log(1 - 1 / (1 + np.exp(-x)))`: -softplus(x).
// CHECK-LABEL: func.func @log_one_minus_sigmoid
// CHECK: "tir.log1p"
// CHECK: [[M:%\d+]] = "tir.max"(%arg0, {{%\d+}})
// CHECK-NEXT: [[S:%\d+]] = "tir.add"([[M]], {{%\d+}})
// CHECK-NEXT: [[R:%\d+]] = "tir.neg"([[S]])
// CHECK-NEXT: "func.return"([[R]])
func.func @log_one_minus_sigmoid(%arg0: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = "tir.neg"(%arg0) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %1 = "tir.exp"(%0) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %2 = "tir.constant"() {value = dense<1.0> : tensor<2x3xf32>} : () -> tensor<2x3xf32>
  %3 = "tir.add"(%2, %1) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %4 = "tir.constant"() {value = dense<1.0> : tensor<2x3xf32>} : () -> tensor<2x3xf32>
  %5 = "tir.div"(%4, %3) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %6 = "tir.constant"() {value = dense<1.0> : tensor<2x3xf32>} : () -> tensor<2x3xf32>
  %7 = "tir.sub"(%6, %5) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %8 = "tir.log"(%7) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  "func.return"(%8) : (tensor<2x3xf32>) -> ()
}

// -----

// Traced binary cross-entropy of p = sigmoid(x): both logs become softplus, sharing one
// log1p(exp(-|x|)).
// CHECK-LABEL: func.func @sigmoid_cross_entropy
// CHECK: [[L:%\d+]] = "tir.log1p"
// CHECK-NOT: "tir.log1p"
// CHECK: "tir.add"({{%\d+}}, [[L]])
// CHECK: "tir.add"({{%\d+}}, [[L]])
// CHECK-NOT: "tir.div"
// CHECK-NOT: "tir.log"(
func.func @sigmoid_cross_entropy(%arg0: tensor<2x3xf32>, %arg1: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = "tir.neg"(%arg0) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %1 = "tir.exp"(%0) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %2 = "tir.constant"() {value = dense<1.0> : tensor<2x3xf32>} : () -> tensor<2x3xf32>
  %3 = "tir.add"(%2, %1) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %4 = "tir.constant"() {value = dense<1.0> : tensor<2x3xf32>} : () -> tensor<2x3xf32>
  %5 = "tir.div"(%4, %3) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %6 = "tir.log"(%5) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %7 = "tir.mul"(%arg1, %6) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %8 = "tir.constant"() {value = dense<1.0> : tensor<2x3xf32>} : () -> tensor<2x3xf32>
  %9 = "tir.sub"(%8, %arg1) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %10 = "tir.constant"() {value = dense<1.0> : tensor<2x3xf32>} : () -> tensor<2x3xf32>
  %11 = "tir.sub"(%10, %5) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %12 = "tir.log"(%11) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %13 = "tir.mul"(%9, %12) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %14 = "tir.add"(%7, %13) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %15 = "tir.neg"(%14) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  "func.return"(%15) : (tensor<2x3xf32>) -> ()
}

// -----

// Traced `np.log(1 + np.exp(x))`: the stable softplus.
// CHECK-LABEL: func.func @softplus
// CHECK: [[A:%\d+]] = "tir.abs"(%arg0)
// CHECK-NEXT: [[N:%\d+]] = "tir.neg"([[A]])
// CHECK-NEXT: [[E:%\d+]] = "tir.exp"([[N]])
// CHECK-NEXT: [[L:%\d+]] = "tir.log1p"([[E]])
// CHECK: [[M:%\d+]] = "tir.max"(%arg0, {{%\d+}})
// CHECK-NEXT: "tir.add"([[M]], [[L]])
func.func @softplus(%arg0: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = "tir.exp"(%arg0) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %1 = "tir.constant"() {value = dense<1.0> : tensor<2x3xf32>} : () -> tensor<2x3xf32>
  %2 = "tir.add"(%1, %0) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %3 = "tir.log"(%2) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  "func.return"(%3) : (tensor<2x3xf32>) -> ()
}

// -----

// A log-softmax the user already shifted by the max is left as written (after canonicalization).
// CHECK-LABEL: func.func @user_log_softmax
// CHECK: "tir.reduce_max"
// CHECK-NOT: "tir.reduce_max"
// CHECK-NOT: "tir.isfinite"
func.func @user_log_softmax(%arg0: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = "tir.reduce_max"(%arg0) {axes = [1]} : (tensor<2x3xf32>) -> tensor<2xf32>
  %1 = "tir.reshape"(%0) {shape = [2, 1]} : (tensor<2xf32>) -> tensor<2x1xf32>
  %2 = "tir.broadcast"(%1) {shape = [2, 3], dims = [0, 1]} : (tensor<2x1xf32>) -> tensor<2x3xf32>
  %3 = "tir.sub"(%arg0, %2) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %4 = "tir.exp"(%3) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %5 = "tir.reduce_sum"(%4) {axes = [1]} : (tensor<2x3xf32>) -> tensor<2xf32>
  %6 = "tir.reshape"(%5) {shape = [2, 1]} : (tensor<2xf32>) -> tensor<2x1xf32>
  %7 = "tir.log"(%6) : (tensor<2x1xf32>) -> tensor<2x1xf32>
  %8 = "tir.broadcast"(%7) {shape = [2, 3], dims = [0, 1]} : (tensor<2x1xf32>) -> tensor<2x3xf32>
  %9 = "tir.sub"(%3, %8) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  "func.return"(%9) : (tensor<2x3xf32>) -> ()
}
