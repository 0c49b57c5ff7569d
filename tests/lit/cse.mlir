// RUN: cse

// Equal pure ops merge, commutative operands in either order; chains merge transitively.
// CHECK-LABEL: func.func @merge
// CHECK: [[A:%\d+]] = "tir.add"(%arg0, %arg1)
// CHECK-NEXT: [[E:%\d+]] = "tir.exp"([[A]])
// CHECK-NEXT: [[M:%\d+]] = "tir.mul"([[E]], [[E]])
// CHECK-NEXT: "func.return"([[M]])
func.func @merge(%arg0: tensor<4xf32>, %arg1: tensor<4xf32>) -> tensor<4xf32> {
  %0 = "tir.add"(%arg0, %arg1) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %1 = "tir.exp"(%0) : (tensor<4xf32>) -> tensor<4xf32>
  %2 = "tir.add"(%arg1, %arg0) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %3 = "tir.exp"(%2) : (tensor<4xf32>) -> tensor<4xf32>
  %4 = "tir.mul"(%1, %3) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  "func.return"(%4) : (tensor<4xf32>) -> ()
}

// -----

// Non-commutative operands keep their order; max is not commutative bit for bit
// (maximum(0.0, -0.0) is 0.0, maximum(-0.0, 0.0) is -0.0); attributes must be equal.
// CHECK-LABEL: func.func @distinct
// CHECK: "tir.sub"(%arg0, %arg1)
// CHECK-NEXT: "tir.sub"(%arg1, %arg0)
// CHECK-NEXT: "tir.max"(%arg0, %arg1)
// CHECK-NEXT: "tir.max"(%arg1, %arg0)
// CHECK-NEXT: "tir.transpose"(%arg2) {perm = [1, 0, 2]}
// CHECK-NEXT: "tir.transpose"(%arg2) {perm = [0, 2, 1]}
func.func @distinct(%arg0: tensor<4xf32>, %arg1: tensor<4xf32>, %arg2: tensor<2x2x2xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<2x2x2xf32>, tensor<2x2x2xf32>) {
  %0 = "tir.sub"(%arg0, %arg1) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %1 = "tir.sub"(%arg1, %arg0) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %2 = "tir.max"(%arg0, %arg1) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %3 = "tir.max"(%arg1, %arg0) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %4 = "tir.transpose"(%arg2) {perm = [1, 0, 2]} : (tensor<2x2x2xf32>) -> tensor<2x2x2xf32>
  %5 = "tir.transpose"(%arg2) {perm = [0, 2, 1]} : (tensor<2x2x2xf32>) -> tensor<2x2x2xf32>
  "func.return"(%0, %1, %2, %3, %4, %5) : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<2x2x2xf32>, tensor<2x2x2xf32>) -> ()
}

// -----

// Constants merge when their bits are equal: 0.0 and -0.0 stay apart, NaNs with equal bits merge.
// CHECK-LABEL: func.func @constants
// CHECK: [[Z:%\d+]] = "tir.constant"() {value = dense<0.0>
// CHECK-NEXT: [[N:%\d+]] = "tir.constant"() {value = dense<-0.0>
// CHECK-NEXT: [[Q:%\d+]] = "tir.constant"() {value = dense<0x7FC00000>
// CHECK-NEXT: "func.return"([[Z]], [[N]], [[Z]], [[Q]], [[Q]])
func.func @constants() -> (tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) {
  %0 = "tir.constant"() {value = dense<0.0> : tensor<2xf32>} : () -> tensor<2xf32>
  %1 = "tir.constant"() {value = dense<-0.0> : tensor<2xf32>} : () -> tensor<2xf32>
  %2 = "tir.constant"() {value = dense<0.0> : tensor<2xf32>} : () -> tensor<2xf32>
  %3 = "tir.constant"() {value = dense<0x7FC00000> : tensor<2xf32>} : () -> tensor<2xf32>
  %4 = "tir.constant"() {value = dense<0x7FC00000> : tensor<2xf32>} : () -> tensor<2xf32>
  "func.return"(%0, %1, %2, %3, %4) : (tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> ()
}

// -----

// Inside a generic body, scalar ops merge with each other; s.constant 0.0 and -0.0 stay apart.
// CHECK-LABEL: func.func @body
// CHECK: ^bb0
// CHECK-NEXT: [[C:%\d+]] = "s.constant"() {value = 0.0, dtype = f32}
// CHECK-NEXT: "s.constant"() {value = -0.0, dtype = f32}
// CHECK-NEXT: [[A:%\d+]] = "s.add"(%arg1, [[C]])
// CHECK-NEXT: "s.mul"([[A]], [[A]])
func.func @body(%arg0: tensor<4xf32>) -> tensor<4xf32> {
  %0 = "tir.empty"() {shape = [4], dtype = f32} : () -> tensor<4xf32>
  %1 = "tir.generic"(%arg0, %0) ({
  ^bb0(%arg1: f32, %arg2: f32):
    %2 = "s.constant"() {value = 0.0, dtype = f32} : () -> f32
    %3 = "s.constant"() {value = -0.0, dtype = f32} : () -> f32
    %4 = "s.constant"() {value = 0.0, dtype = f32} : () -> f32
    %5 = "s.add"(%arg1, %2) : (f32, f32) -> f32
    %6 = "s.add"(%4, %arg1) : (f32, f32) -> f32
    %7 = "s.mul"(%5, %6) : (f32, f32) -> f32
    %8 = "s.add"(%7, %3) : (f32, f32) -> f32
    "s.yield"(%8) : (f32) -> ()
  }) {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"], num_inputs = 1} : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  "func.return"(%1) : (tensor<4xf32>) -> ()
}
